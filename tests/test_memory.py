"""CPU memory that means the model: the training's peak above what the run held as training began, and the data's
size as a column of its own, on real Fashion-MNIST files (Debian's dataset-fashion-mnist, installed by .ci/run)."""
from __future__ import annotations

import pytest

from bench.data.kinds.idx import DEBIAN_FASHION
from bench.store.shards import load_runs
from tests.helpers import bench
from tests.test_readme import README

VARIANTS = {"tests.toy_models:cnn_70k": 66_714, "resnet18": 11_181_642, "resnet50": 23_528_522}


@pytest.mark.slow
@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist package is not installed")
def test_cpu_training_memory_orders_the_models_by_size_and_the_data_is_its_own_column(tmp_path, tmp_path_factory):
    done = bench("run", "--suite", "depth", "--variants", ",".join(VARIANTS), "--dataset", "fashion-mnist",
                 "--epochs", "1", "--set", "train_limit=3000", "--set", "test_limit=500", "--no-channels-last",
                 "--device", "cpu", "--results", str(tmp_path))
    assert done.returncode == 0, done.stderr
    runs = load_runs(tmp_path, "depth").set_index("variant")
    assert runs["params"].to_dict() == VARIANTS  # hand counts (cnn_70k) and torchvision's metadata
    assert (runs["mem_kind"] == "cpu_training_rss").all()
    memory = runs["peak_mem_mb"]
    order = list(VARIANTS)
    # weights, gradients and SGD momentum alone are 3 × 4 bytes × params: 134 MB for resnet18, 282 MB for resnet50
    assert memory[order[0]] < memory[order[1]] < memory[order[2]], memory.to_dict()
    assert memory["resnet50"] > 3 * 4 * VARIANTS["resnet50"] / 2**20
    # the data: 3,000 train + 750 val + 500 test images of 3 × 32 × 32 bytes, and an int64 label each, loaded once
    # per run and only what the run uses (not Fashion-MNIST's 70,000)
    held = (3000 + 750 + 500) * (3 * 32 * 32 + 8) / 2**20
    assert runs["data_mb"].tolist() == pytest.approx([held] * 3)
    assert f"`{held:.1f} MB` of data (`data_mb`" in " ".join(README.split())  # what the README says of it
    # the slice is stratified (Fashion-MNIST's 60,000 training images are 6,000 a class) and the report says so
    assert all(set(counts) == {300} for counts in runs["train_per_class"]), runs["train_per_class"].tolist()
    assert all(set(counts) == {50} for counts in runs["test_per_class"])
    out = tmp_path_factory.mktemp("report")  # outside the results folder, as bench report requires
    report = bench("report", "--suite", "depth", "--results", str(tmp_path), "--out", str(out))
    assert report.returncode == 0, report.stderr
    header = (out / "depth.md").read_text()
    assert ("| data set | fashion-mnist; 10 classes, 32 px; 3,000 train / 750 val / 500 test images; its training images a "
            "stratified slice (train_limit=3,000, the validation images in proportion; each seed its own); its test "
            "images a stratified slice (test_limit=500)") in header
