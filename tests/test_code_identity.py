"""A change to the code or to the bytes is a new result, and nothing else is: a temporary copy of the project with a
finished run, edited one way at a time (a block's forward, the initialisation, the augmentation, the report), and
an image folder rewritten with the same sizes and modification times."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from bench.store.shards import load_runs
from tests.helpers import ROOT, bench

ARGS = ["run", "--suite", "stem-ablation", "--variants", "resnet18", "--dataset", "fake", "--epochs", "1",
        "--batch-size", "32", "--device", "cpu"]


def bench_in(copy: Path, *args: str) -> subprocess.CompletedProcess:
    """`bench ARGS` run from the copy's own sources (its folder comes first on the path)."""
    env = {**os.environ, "PYTHONPATH": str(copy)}
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True, cwd=copy,
                          env=env, timeout=600)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A copy of the project's sources with one finished resnet18 run (fake data) in its results folder."""
    copy = tmp_path_factory.mktemp("project")
    for part in ("bench", "models"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy)
    first = bench_in(copy, *ARGS, "--results", str(copy / "results"))
    assert first.returncode == 0, first.stderr
    return copy


def edited(copy: Path, path: str, old: str, new: str):
    """Edit one file of the copy; the returned function restores it."""
    file = copy / path
    text = file.read_text()
    assert text.count(old) == 1, f"{old!r} not found once in {path}"
    file.write_text(text.replace(old, new))
    return lambda: file.write_text(text)


@pytest.mark.parametrize("path, old, new, said", [
    ("models/resnet.py", "        out = self.relu(self.bn1(self.conv1(x)))\n        return self.merge(",
     "        out = self.bn1(self.conv1(x))\n        return self.merge(", "code: models/resnet.py BasicBlock.forward"),
    ("models/resnet.py", 'mode="fan_out"', 'mode="fan_in"', "code: models/resnet.py init_weights"),
    ("bench/data/augment.py", "< 0.5", "< 0.25", "code: bench/data/augment.py"),
])
@pytest.mark.slow
def test_a_code_change_that_decides_results_is_a_new_result(project, path, old, new, said):
    restore = edited(project, path, old, new)
    try:
        plan = bench_in(project, *ARGS, "--results", str(project / "results"), "--dry-run")
    finally:
        restore()
    assert plan.returncode == 0, plan.stderr
    assert ": run — differs from" in plan.stdout and said in plan.stdout, plan.stdout


def test_a_report_or_comment_change_is_not(project):
    restores = [edited(project, "bench/report/tables.py", '"test acc (%)"', '"test accuracy (%)"'),
                edited(project, "models/resnet.py", 'nonlinearity="relu")', 'nonlinearity="relu")  # a comment, not code')]
    try:
        plan = bench_in(project, *ARGS, "--results", str(project / "results"), "--dry-run")
    finally:
        for restore in restores:
            restore()
    assert "skip (done at" in plan.stdout, plan.stdout + plan.stderr


@pytest.mark.slow
def test_the_new_row_of_edited_code_has_another_config_hash(project):
    results = project / "results"
    restore = edited(project, "models/resnet.py", "        out = self.relu(self.bn1(self.conv1(x)))\n        return self.merge(",
                     "        out = self.bn1(self.conv1(x))\n        return self.merge(")
    try:
        again = bench_in(project, *ARGS, "--results", str(results))
    finally:
        restore()
    assert again.returncode == 0, again.stderr
    runs = load_runs(results, "stem-ablation")
    assert len(runs) == 2 and runs["config_hash"].nunique() == 2
    codes = [__import__("json").loads(i)["architecture"]["code"] for i in runs["identity"]]
    changed = {k for k in codes[0] if codes[0][k] != codes[1].get(k)}
    assert changed == {"models/resnet.py BasicBlock.forward"}  # recorded per definition in each row


def write_bmp_folder(root: Path, colour_of: dict[str, tuple[int, int, int]], per_class: int = 8) -> None:
    """root/train/<class>/<i>.bmp, solid colours: an uncompressed format, so another colour keeps the byte size."""
    for name, colour in colour_of.items():
        (root / "train" / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.new("RGB", (12, 12), colour).save(root / "train" / name / f"{i}.bmp")


@pytest.mark.slow
def test_bytes_rewritten_with_the_same_size_and_time_are_a_new_result(tmp_path):
    data, results = tmp_path / "images", tmp_path / "results"
    write_bmp_folder(data, {"red": (250, 10, 10), "green": (10, 250, 10)})
    args = ["run", "--suite", "shortcut", "--variants", "plain32", "--dataset", f"imagefolder:{data}", "--epochs", "1",
            "--batch-size", "4", "--device", "cpu", "--results", str(results)]
    assert bench(*args).returncode == 0
    target = data / "train" / "red" / "0.bmp"
    before = target.stat()
    Image.new("RGB", (12, 12), (10, 10, 250)).save(target)  # blue now, in a red folder
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert target.stat().st_size == before.st_size and target.stat().st_mtime_ns == before.st_mtime_ns
    plan = bench(*args, "--dry-run").stdout
    assert ": run — differs from" in plan and "data.content" in plan, plan
    assert bench(*args).returncode == 0
    from bench.data.registry import load_dataset
    import torch

    loaded = load_dataset(f"imagefolder:{data}", None, 32, 0, 0.2, torch.device("cpu"))
    splits = [loaded.train, loaded.val, loaded.test]
    split = next(s for s in splits if target in s.files)
    row = split.files.index(target)
    pixel = split.images[split.rows[row]][:, 0, 0].tolist()
    assert pixel == [10, 10, 250]  # the image cache holds the new bytes' pixels


@pytest.mark.slow
def test_checkpoints_asked_of_finished_runs_that_have_none_says_so(tmp_path):
    args = ["run", "--suite", "shortcut", "--variants", "plain32", "--dataset", "fake", "--epochs", "1",
            "--batch-size", "32", "--device", "cpu", "--results", str(tmp_path)]
    assert bench(*args).returncode == 0
    again = bench(*args, "--checkpoints")
    lines = [line for line in again.stderr.splitlines() if "no checkpoint" in line]
    assert len(lines) == 1 and "plain32 seed 0" in lines[0] and "--force" in lines[0], again.stderr
