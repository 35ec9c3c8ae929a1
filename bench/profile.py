"""Model cost: parameters, MACs (fvcore), activations, size, and forward latency (one method, shared with the benchmarks).

Units: fvcore counts one fused multiply-add as one "flop"; we call that a MAC and report flops = 2 × macs.
"""
from __future__ import annotations

import statistics
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .device import synchronize


@dataclass
class Profile:
    """The static cost of one model at one input size."""

    params: int
    trainable_params: int
    macs: int
    flops: int
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
        macs = int(flops.total())
        activations = int(acts.total())
    skipped = ", ".join(f"{op}×{n}" for op, n in sorted(flops.unsupported_ops().items()))
    model.train(was_training)
    total, trainable = count_params(model)
    return Profile(total, trainable, macs, 2 * macs, activations, model_size_mb(model), skipped, input_size, num_classes)


def make_forward(model: nn.Module, batch_size: int, input_size: int, device: torch.device
                 ) -> Callable[[], torch.Tensor]:
    """A no-argument call that runs one eval-mode forward pass of a fixed batch, waits for it, returns the logits.

    The one latency method of the project: the runner's `latency_ms_*` columns and the pytest-benchmark suite
    both time this call.
    """
    model.eval().to(device)
    x = torch.randn(batch_size, 3, input_size, input_size, device=device)

    def forward() -> torch.Tensor:
        with torch.inference_mode():
            out = model(x)
        synchronize(device)  # inside the timed call, so GPU time is counted
        return out

    return forward


def measure_latency_ms(
    model: nn.Module, batch_size: int, input_size: int, device: torch.device, warmup: int = 3, repeats: int = 10
) -> float:
    """Median wall time of one forward pass, in ms, after `warmup` untimed passes."""
    forward = make_forward(model, batch_size, input_size, device)
    for _ in range(warmup):
        forward()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        forward()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
