"""Your own module imports as it does for `python`: the installed `bench` command, run from a folder holding
`mynets.py`, finds `mynets:small_cnn` there, and so does every worker it starts; the row says where it came from."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.store.shards import load_runs

MODULE = '''from torch import nn


def small_cnn(num_classes):
    """A small CNN from the user's own folder."""
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, num_classes))
'''


def installed_bench(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """The console script pip installed beside this interpreter, run from `folder` with no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(Path(sys.executable).parent / "bench"), *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_a_module_in_the_current_folder_imports_in_the_command_and_in_its_workers(tmp_path):
    (tmp_path / "mynets.py").write_text(MODULE)
    listed = installed_bench(tmp_path, "models", "mynets:small_cnn", "--format", "csv")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].startswith("mynets:small_cnn,module,")
    ran = installed_bench(tmp_path, "run", "--suite", "shortcut", "--variants", "mynets:small_cnn", "--dataset", "fake",
                          "--epochs", "1", "--batch-size", "32", "--device", "cpu", "--results", str(tmp_path / "r"))
    assert ran.returncode == 0, ran.stderr
    (row,) = load_runs(tmp_path / "r", "shortcut").to_dict("records")
    assert row["status"] == "ok" and row["variant_source"] == "module"
    assert Path(row["variant_origin"]) == tmp_path / "mynets.py"
