"""Model cost: parameters, MACs, activations, size, and forward latency (one method, shared with the benchmarks).

Units: `macs` counts the multiply-adds of convolutions, linear layers and matrix products only, the
convention of torchvision's `_ops` metadata and the ResNet paper; flops = 2 × macs. fvcore (which calls a
multiply-add a "flop") also counts batch norm, pooling and some element-wise ops: that goes to `other_ops`.
"""
from __future__ import annotations

import statistics
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..core.device import synchronize
from ..train.speed import Speed


@dataclass
class Profile:
    """The static cost of one model at one input size."""

    params: int
    trainable_params: int
    macs: int
    flops: int
    other_ops: int  # what fvcore counts beyond macs: batch norm, adaptive pooling, upsampling, ...
    activations: int
    size_mb: float
    skipped_ops: str  # op kinds fvcore could not count, "name×count" joined by ", "
    input_size: int
    num_classes: int


def count_params(model: nn.Module) -> tuple[int, int]:
    """Total and trainable parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    return total, sum(p.numel() for p in model.parameters() if p.requires_grad)


def model_size_mb(model: nn.Module) -> float:
    """Bytes of parameters and buffers, in MB (2^20 bytes)."""
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors) / 2**20


# fvcore's operator groups (`FlopCountAnalysis.by_operator`) that are multiply-adds of a matrix product.
MATRIX_OPERATORS = {"conv", "linear", "addmm", "matmul", "mm", "bmm", "einsum"}


def profile_model(model: nn.Module, input_size: int = 32, num_classes: int = 10) -> Profile:
    """Count params, MACs and activations of `model` for one 3×`input_size`² image, on the CPU, in eval mode."""
    with warnings.catch_warnings():  # fvcore uses torch.jit, which now warns of its own deprecation
        warnings.simplefilter("ignore")
        from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis

    was_training = model.training
    model.eval()
    x = torch.zeros(1, 3, input_size, input_size, device=next(model.parameters()).device)
    flops = FlopCountAnalysis(model, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    acts = ActivationCountAnalysis(model, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_operator = flops.by_operator()
        activations = int(acts.total())
    macs = int(sum(n for op, n in by_operator.items() if op in MATRIX_OPERATORS))
    other = int(sum(n for op, n in by_operator.items() if op not in MATRIX_OPERATORS))
    skipped = ", ".join(f"{op}×{n}" for op, n in sorted(flops.unsupported_ops().items()))
    model.train(was_training)
    total, trainable = count_params(model)
    return Profile(total, trainable, macs, 2 * macs, other, activations, model_size_mb(model), skipped, input_size,
                   num_classes)


def make_forward(model: nn.Module, batch_size: int, input_size: int, device: torch.device, speed: Speed | None = None
                 ) -> Callable[[], torch.Tensor]:
    """A no-argument call that runs one eval-mode forward pass of a fixed batch, waits for it, returns the logits.

    The one latency method of the project: the runner's `latency_ms_*` columns and the pytest-benchmark suite
    both time this call. With `speed`, under the run's precision and memory format (eager: never compiled).
    """
    speed = speed or Speed(device)
    model = speed.model(model.eval())
    x = speed.images(lambda t: t)(torch.randn(batch_size, 3, input_size, input_size, device=device))

    def forward() -> torch.Tensor:
        with torch.inference_mode(), speed.autocast():
            out = model(x)
        synchronize(device)  # inside the timed call, so GPU time is counted
        return out

    return forward


@dataclass
class Latency:
    """Forward-pass times of one batch size, in ms: the median and interquartile range over `calls`."""

    median_ms: float
    iqr_ms: float
    calls: int
    threads: int


def measure_latency(model: nn.Module, batch_size: int, input_size: int, device: torch.device, warmup: int = 3,
                    min_calls: int = 10, min_time_s: float = 0.2, threads: int | None = None,
                    speed: Speed | None = None) -> Latency:
    """Time forward passes after `warmup` untimed ones, until both `min_calls` and `min_time_s` are reached.

    `threads` fixes torch's CPU thread count for the measurement (default: the current one), restored after."""
    forward = make_forward(model, batch_size, input_size, device, speed)
    before = torch.get_num_threads()
    threads = threads or before
    torch.set_num_threads(threads)
    try:
        for _ in range(warmup):
            forward()
        times: list[float] = []
        spent = 0.0
        while len(times) < min_calls or spent < min_time_s:
            start = time.perf_counter()
            forward()
            elapsed = time.perf_counter() - start
            times.append(elapsed * 1000)
            spent += elapsed
    finally:
        torch.set_num_threads(before)
    q1, _, q3 = statistics.quantiles(times, n=4)
    return Latency(statistics.median(times), q3 - q1, len(times), threads)
