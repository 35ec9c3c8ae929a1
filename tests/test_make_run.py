"""`make run`, the README's first command, leaves every tracked file as it was: stopped by Ctrl-C mid-suite, and run
again to its end. The real Makefile target, in a copy of the repository that is a git repository of its own, with this
environment's .venv (so nothing is installed) and a tiny suite through RUN_SUITE / RUN_ARGS."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.store.shards import load_runs
from tests.helpers import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None or shutil.which("git") is None,
                                reason="needs make and git")
VENV = Path(sys.prefix)
TINY = "--variants plain32,resnet32 --dataset fake --device cpu --epochs 2"
# where `make run` writes its report: outside results/, and ignored by git like it
RUN_REPORTS = re.search(r"^RUN_REPORTS := (\S+)$", (ROOT / "Makefile").read_text(), re.M)[1]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def repository_copy(tmp_path: Path) -> Path:
    """The project's files as this checkout has them (tracked, and new ones git does not ignore), committed in a
    fresh repository, so that `git status` there says what a command changed."""
    copy = tmp_path / "repo"
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                           check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    git(copy, "init", "-q")
    git(copy, "add", "-A")
    git(copy, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "copy")
    return copy


def make_run(copy: Path, suite: str = "shortcut") -> subprocess.Popen:
    """`make run` as a user types it, in a session of its own (a terminal's Ctrl-C reaches the whole group); the
    venv's install stamp is taken as up to date (-o), so nothing is installed."""
    stamp = VENV / ".installed-stamp"
    if not stamp.exists():
        pytest.skip(f"{VENV} was not made by the Makefile (no {stamp.name})")
    return subprocess.Popen(["make", "-o", str(stamp), "run", f"VENV={VENV}", f"RUN_SUITE={suite}", f"RUN_ARGS={TINY}"],
                            cwd=copy, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": ""})


@pytest.mark.slow
def test_make_run_interrupted_mid_suite_writes_no_report_and_run_again_ends_and_changes_no_tracked_file(tmp_path):
    """Ctrl-C mid-suite, then `make run` again to its end (one test, so that the tiny suite trains once)."""
    copy = repository_copy(tmp_path)
    proc = make_run(copy)
    runs = copy / "results" / "shortcut" / "runs"
    deadline = time.monotonic() + 600
    while not (runs.is_dir() and any(runs.glob("*.parquet"))) and time.monotonic() < deadline:
        time.sleep(0.2)  # the first run's row: the second run is starting or training
    assert proc.poll() is None, proc.communicate()[1]
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C on the terminal: make, bench and its worker all get it
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0
    assert "Traceback" not in err, err
    assert git(copy, "status", "--porcelain") == ""
    assert not (copy / RUN_REPORTS).exists()  # no report written after Ctrl-C
    # make stops at Ctrl-C before its recipe can speak; bench itself says where the finished runs are
    # what finished, and commands that work as typed in the copy: the program as PATH or the copy's folder finds it
    assert "interrupted: 1 of 2 run(s) finished, kept in results/shortcut/" in err, err
    program = re.search(r"\nresume: (\S+) run --suite shortcut", err).group(1)
    assert shutil.which(program) or (copy / program).is_file(), program
    assert f"report what finished: {program} report --suite shortcut" in err
    statuses = sorted(load_runs(copy / "results", "shortcut")["status"])
    # the first run finished; the second was stopped (an `interrupted` row) or never began (no row)
    assert statuses in (["interrupted", "ok"], ["ok"]), err
    # and resumed: the finished run is skipped, the interrupted one runs, the report is written
    again = make_run(copy)
    _, err = again.communicate(timeout=900)
    assert again.returncode == 0, err
    assert "skip (done at" in err and git(copy, "status", "--porcelain") == ""
    for report in ("shortcut.md", "shortcut.html"):  # the report and its page went to RUN_REPORTS (ignored)
        assert (copy / RUN_REPORTS / report).is_file()
    assert (load_runs(copy / "results", "shortcut")["status"] == "ok").sum() == 2
