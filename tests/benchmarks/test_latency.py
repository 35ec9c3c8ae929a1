"""Forward-pass latency of every registered variant, with pytest-benchmark.

Parametrized by the registry: a newly registered variant is benchmarked without editing this file. Each
benchmark times `bench.profile.make_forward` (eval mode, `torch.inference_mode()`, a CUDA synchronize inside
the timed call on a GPU), the same call the runner uses for its `latency_ms_*` columns. `make test` runs them
once with timing disabled, as correctness checks; `make latency` and `make latency-check` time them.
224 px (ImageNet-style variants only) joins when BENCH_LATENCY_224=1 (`make latency-224`): slow on a CPU.
"""
from __future__ import annotations

import os

import pytest
import torch

import models
from bench.core.device import resolve_device
from bench.measure.profile import make_forward, profile_model

BATCHES = (1, 32)
SIZES = (32, 224) if os.environ.get("BENCH_LATENCY_224") else (32,)
DEVICE = resolve_device("auto")
CASES = [
    pytest.param(v.name, size, batch, id=f"{v.name}-{size}px-b{batch}")
    for size in SIZES
    for batch in BATCHES
    for v in models.list_variants()
    if size == 32 or "cifar" not in v.tags  # the CIFAR nets are for 32 px images only
]
WARMUP_CALLS = 3


@pytest.mark.parametrize("name, size, batch", CASES)
def test_forward_latency(benchmark, name: str, size: int, batch: int) -> None:
    torch.manual_seed(0)
    model = models.build(name, num_classes=10)
    profile = profile_model(model, size, 10)
    forward = make_forward(model, batch, size, DEVICE)
    for _ in range(WARMUP_CALLS):  # allocator and kernel selection settle outside the timed region
        forward()
    benchmark.group = f"forward {size}px batch {batch} ({DEVICE.type})"
    benchmark.extra_info.update(variant=name, macs=profile.macs, params=profile.params, batch_size=batch,
                                input_size=size, device=DEVICE.type, threads=torch.get_num_threads())
    out = benchmark(forward)
    assert out.shape == (batch, 10) and torch.isfinite(out).all()
