"""`make gpu-check`, rehearsed on the CPU: the same steps at toy size (gpu tests, speed grid, automatic format, a
real Fashion-MNIST run), one table of figures beside targets, and its exit codes: 2 without a GPU (one line), 0 when
every target holds, 1 naming a planted shortfall."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from bench.data.kinds.idx import DEBIAN_FASHION
from tests.helpers import ROOT
from tests.test_report import parse_table

CHECK = [sys.executable, "-m", "tests.benchmarks.gpu_check"]


def check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CHECK, *args], capture_output=True, text=True, cwd=ROOT, timeout=600)


def table_of(stdout: str):
    """The check's table (it starts the output), as strings."""
    return parse_table("\n" + stdout, "\n")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: the check itself runs, not its refusal")
def test_without_a_gpu_the_check_says_so_in_one_line_and_exits_2():
    done = check()
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "no CUDA GPU" in done.stderr and "Traceback" not in done.stderr
    assert "DEVICE=cpu" in done.stderr  # it says how to rehearse


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist package is not installed")
def test_the_cpu_rehearsal_prints_the_table_and_a_planted_shortfall_exits_1_naming_it(tmp_path):
    done = check("--device", "cpu", "--out", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    table = table_of(done.stdout)
    assert list(table.columns) == ["check", "measured", "target", "verdict"]
    checks = dict(zip(table["check"], table["verdict"]))
    # one row per speed cell (plain32 at batch 8, NCHW and channels_last), the automatic format, the real-data run
    assert checks["plain32 b8 fp32: harness / hand"] == checks["plain32 b8 fp32+cl: harness / hand"] == "ok"
    assert checks["plain32 b8 fp32: automatic / best format"] == "ok"
    assert checks["gpu tests failed"] == "ok" and checks["setup_s"] == "ok"
    assert checks["real-data run: test acc"] == "measured"
    gpu_tests = table.set_index("check").loc["gpu tests failed", "measured"]
    assert gpu_tests.startswith("0 (0 passed,") and "skipped on cpu" in gpu_tests  # all of them skipped without CUDA
    assert (tmp_path / "gpu-check.md").read_text().strip() == done.stdout.split("\n\n")[0].strip()
    assert "every target holds" in done.stderr

    # no harness step is a hundred times a hand loop's; only the step that measures it runs (the speed grid)
    planted = check("--device", "cpu", "--target", "harness / hand=100", "--steps", "speed-grid")
    assert planted.returncode == 1, planted.stdout + planted.stderr
    last = planted.stderr.strip().splitlines()[-1]
    assert last.startswith("gpu-check: short of target: plain32 b8 fp32: harness / hand: ") and ">= 100" in last
    assert "Traceback" not in planted.stderr
    verdicts = dict(zip(*(table_of(planted.stdout)[c] for c in ("check", "verdict"))))
    assert verdicts["plain32 b8 fp32: harness / hand"] == "SHORT" and "setup_s" not in verdicts  # the one step ran
