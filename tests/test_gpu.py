"""CUDA code paths (skipped without a GPU): event timing, allocator memory, NVML, and a whole run on the GPU."""
from __future__ import annotations

import pytest
import torch

from bench.core.device import Stopwatch, cuda_extra_memory, peak_memory, reset_peak_memory, resolve_device
from bench.store.shards import load_runs

pytestmark = pytest.mark.gpu


def test_auto_picks_the_gpu():
    assert resolve_device("auto").type == "cuda"


def test_events_time_gpu_work_and_memory_counts_allocations():
    device = torch.device("cuda")
    reset_peak_memory(device)
    x = torch.randn(4096, 4096, device=device)  # 64 MiB
    watch = Stopwatch(device)
    watch.start()
    for _ in range(10):
        x = x @ x / 64
    watch.stop()
    assert watch.total_s() > 0
    mb, kind = peak_memory(device)
    assert kind == "cuda_allocated" and mb >= 128  # x and at least one product alive at once
    extra = cuda_extra_memory(device)
    assert extra["peak_reserved_mb"] >= mb


def test_a_run_on_the_gpu_records_gpu_memory(tmp_path):
    from tests.test_runner import run_worker, spec_for

    spec = spec_for(tmp_path, epochs=1, variant="resnet32", device="cuda")
    assert run_worker(spec).returncode == 0
    (row,) = load_runs(tmp_path, "unit").to_dict("records")
    assert row["status"] == "ok" and row["mem_kind"] == "cuda_allocated" and row["peak_mem_mb"] > 0
    assert row["device_name"] == torch.cuda.get_device_name(0) and row["peak_reserved_mb"] >= row["peak_mem_mb"]


def test_a_run_on_the_last_gpu_records_its_index_settings_and_use(tmp_path):
    from tests.helpers import bench

    index = torch.cuda.device_count() - 1
    result = bench("run", "--device", f"cuda:{index}", "--suite", "shortcut", "--variants", "resnet32", "--dataset",
                   "fake", "--epochs", "2", "--batch-size", "64", "--precision", "bf16", "--channels-last",
                   "--results", str(tmp_path))
    assert result.returncode == 0, result.stderr
    (row,) = load_runs(tmp_path, "shortcut").to_dict("records")
    assert row["device"] == f"cuda:{index}" and row["device_name"] == torch.cuda.get_device_name(index)
    assert row["precision"] == "bf16" and row["channels_last"] and row["mem_kind"] == "cuda_allocated"
    assert 0 <= row["gpu_util_pct"] <= 100 and 0 < row["mfu"] < 1 and row["peak_tflops"] > 10


def test_reduce_overhead_compiles_in_the_warm_up_on_the_gpu():
    from bench.data.registry import load_dataset
    from bench.config.recipe import Recipe
    from bench.train.loop import fit
    from tests.test_speed import tiny_net

    device = torch.device("cuda", 0)
    data = load_dataset("fake", None, 16, 0, 0.2, device)
    recipe = Recipe(epochs=2, batch_size=64, input_size=16, compile="reduce-overhead", precision="tf32",
                    channels_last=True, warmup_epochs=0)
    results = list(fit(tiny_net(), data, recipe, device, seed=0))
    assert results[0].compile_s > 0 and all(0 < r.train.loss < 10 for r in results)
    assert torch.backends.cudnn.benchmark
