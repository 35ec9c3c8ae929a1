"""`bench report` writes only its own files: never into, around or inside a results folder; a file it did not write
survives a re-report; a picture it no longer makes is removed; and the `next:` command a real `bench run` prints
never replaces a committed report made from other rows, unless --force. Real parquet rows throughout: the committed
example rows copied, and a real (tiny) run."""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import EXAMPLES, ROOT, bench, quick

SUITE = "mobile-vs-resnet"  # two variants, one seed each: its report is quick
COMMITTED = ROOT / "reports"
PICTURE_LINK = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")


def bench_in(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """`bench ARGS` in a real child process, run from `cwd` (its default folders are there)."""
    return subprocess.run([sys.executable, "-m", "bench.cli", *quick(args)], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def copied_rows(folder: Path, suite: str = SUITE) -> Path:
    """The committed rows of `suite`, copied as a results folder `folder`."""
    shutil.copytree(EXAMPLES / suite, folder / suite)
    return folder


def files_under(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def refused_in_one_line(done: subprocess.CompletedProcess, *named: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench: ") and "Traceback" not in done.stderr, done.stderr
    for text in named:
        assert text in lines[0], (text, lines[0])


def test_report_onto_into_or_around_a_results_folder_is_refused_and_keeps_every_run(tmp_path):
    results = copied_rows(tmp_path / "results")
    shards = files_under(results)
    assert len([name for name in shards if "/runs/" in name]) == 2  # mobilenet_v2 and resnet18, one seed each
    for out, how in ((results, "is a results folder"), (results / "reports", "sits inside the results folder"),
                     (tmp_path, "holds the results folder")):
        refused_in_one_line(bench("report", "--results", str(results), "--out", str(out)), f"'{out}'", how)
    other = copied_rows(tmp_path / "elsewhere" / "rows")  # not the folder read: found all the same
    refused_in_one_line(bench("report", "--results", str(results), "--out", str(other)), "is a results folder")
    refused_in_one_line(bench("report", "--results", str(results), "--out", str(other.parent)), "holds")
    assert files_under(results) == shards  # every shard still there, byte for byte
    assert not (tmp_path / f"{SUITE}.md").exists() and not (results / "reports").exists()


def pictures_linked(markdown: str) -> set[str]:
    return set(PICTURE_LINK.findall(markdown))


def test_a_re_report_keeps_hand_made_files_and_removes_only_the_pictures_it_no_longer_makes(tmp_path):
    results, out = copied_rows(tmp_path / "results"), tmp_path / "reports"
    assert bench("report", "--results", str(results), "--out", str(out)).returncode == 0
    first = pictures_linked((out / f"{SUITE}.md").read_text())
    dropped = {p for p in first if p.endswith("confusion-mobilenet_v2.png")}
    assert len(dropped) == 1 and all((out / p).is_file() for p in first)
    hand_made = {f"{SUITE}/my-figure.png": b"drawn by hand", f"{SUITE}/notes/todo.md": b"- check",
                 "notes.txt": b"mine", f"{SUITE}.txt": b"also mine"}
    for name, data in hand_made.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    for table in ("runs", "epochs", "predictions"):  # mobilenet_v2 is no longer among the rows
        for shard in (results / SUITE / table).glob("mobilenet_v2-*.parquet"):
            shard.unlink()
    again = bench("report", "--results", str(results), "--out", str(out))
    assert again.returncode == 0, again.stderr
    second = pictures_linked((out / f"{SUITE}.md").read_text())
    assert second == first - dropped
    on_disk = files_under(out)
    assert {name: on_disk.get(name) for name in hand_made} == hand_made
    assert set(on_disk) == {f"{SUITE}.md", f".bench-report-{SUITE}.json", *second, *hand_made}


def test_a_manifest_that_names_files_outside_its_report_deletes_nothing(tmp_path):
    """A hostile manifest (a file bench reads back) listing a path outside the report: refused in one line, and
    with --force the report is written and that file is still there."""
    results, out = copied_rows(tmp_path / "results"), tmp_path / "reports"
    victim = tmp_path / "victim.txt"
    victim.write_text("not bench's")
    out.mkdir()
    digest = "0" * 64
    (out / f".bench-report-{SUITE}.json").write_text(json.dumps(
        {"version": 1, "suite": SUITE, "parts": {".md": {"results": ["../results"],
                                                        "files": {f"{SUITE}/../../victim.txt": digest}}}}))
    refused_in_one_line(bench("report", "--results", str(results), "--out", str(out)),
                        f".bench-report-{SUITE}.json", "--force")
    forced = bench("report", "--results", str(results), "--out", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert victim.read_text() == "not bench's" and (out / f"{SUITE}.md").is_file()


@pytest.fixture(scope="module")
def project_after_a_run(tmp_path_factory):
    """A folder where a real (tiny) `bench run` of shortcut wrote its rows in results/ (the default), and the
    `next:` command it printed."""
    project = tmp_path_factory.mktemp("project")
    done = bench_in(project, "run", "--suite", "shortcut", "--variants", "plain32", "--dataset", "fake", "--epochs",
                    "1", "--device", "cpu", "--set", "train_limit=100", "--set", "test_limit=50",
                    "--set", "input_size=16")
    assert done.returncode == 0, done.stderr
    command = re.search(r"^next: (bench report .*)$", done.stdout, re.M)[1]
    return project, shlex.split(command)[1:]


def committed_report_copied(project: Path, suite: str, manifest: bool = True) -> dict[str, bytes]:
    """The committed report of `suite` (markdown, page, pictures and, with `manifest`, its manifest: made from the
    committed rows) copied into `project/reports`; returns what was copied."""
    names = [f"{suite}.md", f"{suite}.html"] + [f".bench-report-{suite}.json"] * manifest
    for name in names:
        (project / "reports").mkdir(exist_ok=True)
        shutil.copy(COMMITTED / name, project / "reports" / name)
    shutil.copytree(COMMITTED / suite, project / "reports" / suite)
    return files_under(project / "reports")


def test_the_next_command_of_a_run_never_replaces_a_committed_report_and_force_does(project_after_a_run, tmp_path):
    project, next_command = project_after_a_run
    work = tmp_path / "project"
    shutil.copytree(project / "results", work / "results")
    committed = committed_report_copied(work, "shortcut")
    assert len([name for name in committed if name.endswith(".png")]) > 1
    refused_in_one_line(bench_in(work, *next_command), "reports/shortcut.md", "made from examples/results",
                        "not results", "--force")
    assert files_under(work / "reports") == committed
    forced = bench_in(work, *next_command, "--force")
    assert forced.returncode == 0, forced.stderr
    markdown = (work / "reports" / "shortcut.md").read_text()
    assert markdown != committed["shortcut.md"].decode() and "fake" in markdown
    # the committed pictures the new report does not make are gone (its rows are other ones: other pictures); the
    # page, of a format not written, is kept as it was
    on_disk = files_under(work / "reports")
    assert set(on_disk) == {"shortcut.md", "shortcut.html", ".bench-report-shortcut.json", *pictures_linked(markdown)}
    assert on_disk["shortcut.html"] == committed["shortcut.html"]
    assert json.loads(on_disk[".bench-report-shortcut.json"])["parts"][".md"]["results"] == ["../results"]
    assert bench_in(work, *next_command).returncode == 0  # now made from these rows: replaced without --force


def test_a_report_without_a_manifest_counts_as_made_from_unknown_rows(project_after_a_run, tmp_path):
    """A report folder holding `<suite>.md` but no manifest (an older bench, or by hand): not overwritten without
    --force, and with it the files of other names stay (bench never wrote them, as far as it knows)."""
    project, next_command = project_after_a_run
    work = tmp_path / "project"
    shutil.copytree(project / "results", work / "results")
    committed = committed_report_copied(work, "shortcut", manifest=False)
    refused_in_one_line(bench_in(work, *next_command), "reports/shortcut.md", "was not written by bench report",
                        "--force")
    assert files_under(work / "reports") == committed
    assert bench_in(work, *next_command, "--force").returncode == 0
    on_disk = files_under(work / "reports")
    assert on_disk["shortcut.md"] != committed["shortcut.md"]
    assert {name: on_disk[name] for name in committed if name.endswith(".png")} == \
        {name: data for name, data in committed.items() if name.endswith(".png")}
