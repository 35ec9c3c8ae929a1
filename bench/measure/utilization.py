"""How well a run used its device: achieved training TFLOP/s, the device's measured peak, their ratio (MFU),
and on CUDA the GPU's busy share sampled by NVML while training.

Convention: a training step costs 3 × the forward FLOPs (forward, plus a backward pass that costs about twice
the forward: gradients with respect to activations and to weights), where forward FLOPs = 2 × MACs of the
convolutions, linear layers and matrix products (the `flops` column).
"""
from __future__ import annotations

import contextlib
import statistics
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..store.jsonfile import finite_number, read_json, write_json

TRAIN_FLOPS_PER_FORWARD = 3


def train_tflops(forward_flops_per_image: float, images_per_s: float) -> float:
    """Achieved training throughput in TFLOP/s."""
    return TRAIN_FLOPS_PER_FORWARD * forward_flops_per_image * images_per_s / 1e12


def mfu(achieved_tflops: float, peak_tflops: float) -> float | None:
    """Model FLOPs utilisation: the achieved share of the measured peak (a fraction)."""
    return achieved_tflops / peak_tflops if peak_tflops > 0 else None


# ---------------------------------------------------------------- the peak (once per device) and the machine's speed now

def peak_key(device_name: str, precision: str, torch_version: str) -> str:
    return f"{device_name} | {precision} | torch {torch_version}"


KERNEL_BLOCKS = 5
PROBE_S = 0.2  # the machine-speed probe's timed seconds (its median moves about 1% from probe to probe on 2 CPU cores)


def kernel_rates(speed, seconds: float) -> dict[str, list[float]]:
    """The TFLOP/s of each of two dense kernels on the run's device at the run's precision (`speed`, its backends
    already set), in `KERNEL_BLOCKS` blocks of at least `seconds`/`KERNEL_BLOCKS` each, after two untimed calls.

    Two kernels that do the same arithmetic, since the libraries behind them differ in speed (on AMD CPUs MKL's
    matmul reaches about half of what oneDNN's convolutions do): a square matmul (cuBLAS / MKL) and a 1×1
    convolution in channels_last (cuDNN / oneDNN), in the precision's compute dtype (fp32 with TF32 off or on,
    bf16 or fp16)."""
    import torch
    import torch.nn.functional as F

    from ..core.device import synchronize

    device = speed.device
    dtype = compute_dtype(speed)
    gpu = device.type == "cuda"
    n = 8192 if gpu else 1024
    # On a CPU the convolution is sized to take about as long as the matmul (≈25 ms a call on one core here), so that
    # each block holds more than one call; 2,048 channels took 4× longer at the same TFLOP/s (0.080 against 0.084).
    batch, channels, side = (16, 4096, 32) if gpu else (1, 1024, 32)
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    x = torch.randn(batch, channels, side, side, device=device).to(dtype).contiguous(memory_format=torch.channels_last)
    w = torch.randn(channels, channels, 1, 1, device=device).to(dtype).contiguous(memory_format=torch.channels_last)
    kernels = {f"{n}×{n} @ {n}×{n} matmul": (lambda: a @ b, 2 * n**3),
               f"1×1 convolution of {batch}×{channels}×{side}×{side} to {channels} channels":
                   (lambda: F.conv2d(x, w), 2 * batch * channels**2 * side**2)}
    block_s = seconds / KERNEL_BLOCKS
    rates: dict[str, list[float]] = {}
    with torch.no_grad():
        for name, (call, flops) in kernels.items():
            for _ in range(2):
                call()
            synchronize(device)
            for _ in range(KERNEL_BLOCKS):
                calls, start = 0, time.perf_counter()
                while True:
                    call()
                    calls += 1
                    synchronize(device)
                    elapsed = time.perf_counter() - start
                    if elapsed >= block_s:
                        break
                rates.setdefault(name, []).append(flops * calls / elapsed / 1e12)
    return rates


def compute_dtype(speed):
    import torch

    from ..store.speed import PRECISIONS

    return getattr(torch, PRECISIONS[speed.precision].autocast or "float32")


def measure_peak_tflops(speed, seconds: float = 0.5) -> tuple[float, str]:
    """The best dense matrix-product throughput of the run's device at the run's precision, in TFLOP/s (the best
    block of either kernel of `kernel_rates`), and how it was measured."""
    import torch

    from ..store.speed import PRECISIONS

    best = {name: max(rates) for name, rates in kernel_rates(speed, seconds).items()}
    threads = "" if speed.device.type == "cuda" else f", {torch.get_num_threads()} threads"
    method = (f"best {KERNEL_BLOCKS}-block rate (blocks ≥ {seconds / KERNEL_BLOCKS:.2f} s) of two dense kernels in "
              f"{str(compute_dtype(speed)).split('.')[-1]} ({PRECISIONS[speed.precision].description}{threads}): "
              + "; ".join(f"{name} {tflops:.3g} TFLOP/s" for name, tflops in best.items()))
    return max(best.values()), method


def machine_tflops(speed, seconds: float = PROBE_S) -> float:
    """How fast this machine runs right now: the faster kernel's median block rate (TFLOP/s) of `kernel_rates`. A
    run records it just before it times latency and trains, so that a comparison can tell a slower machine (a busy
    neighbour on a shared host, a lower clock) from a slower model; the median, not the best block, so that
    a machine busy part of the time reads slower."""
    return max(statistics.median(rates) for rates in kernel_rates(speed, seconds).values())


def peak_tflops(path: Path, speed, device_name: str, machine_path: Path) -> float:
    """The peak for this device name, precision and torch version: read from the results folder's file at `path`,
    else from the machine's at `machine_path` (so a new folder does not measure again), else measured now; the entry
    is added to each file that lacks it (written atomically; a lost race only means one more measurement)."""
    import torch

    key = peak_key(device_name, speed.precision, torch.__version__)
    caches = {where: read_cache(where) for where in (path, machine_path)}
    entry = caches[path].get(key) or caches[machine_path].get(key)
    if entry is None:
        tflops, method = measure_peak_tflops(speed)
        entry = {"tflops": tflops, "method": method,
                 "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        caches = {where: read_cache(where) for where in caches}  # again: another run may have written meanwhile
    for where, cache in caches.items():
        if key not in cache:
            write_json(where, {**cache, key: entry})
    return float(entry["tflops"])


def peak_entry_ok(entry: object) -> bool:
    """An entry as `peak_tflops` writes it: a finite peak above zero under `tflops`."""
    return isinstance(entry, dict) and finite_number(entry.get("tflops"))


def read_cache(path: Path) -> dict:
    """The cache of peaks at `path`; a damaged one is set aside and read as empty (bench.store.jsonfile), so the
    peak is measured again."""
    return read_json(path, peak_entry_ok)


# ---------------------------------------------------------------- GPU utilisation while training

class Sampler:
    """Calls `read` every `interval_s` on a background thread between `start` and `stop`, over any number of
    start/stop windows; `mean` is the mean over every sample taken (None before any)."""

    def __init__(self, read: Callable[[], float], interval_s: float = 0.05) -> None:
        self.read, self.interval_s = read, interval_s
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.samples.append(float(self.read()))
            except Exception:  # a failing reader must never end the run; it just stops contributing
                return

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def __call__(self) -> Sampler:
        """As `fit`'s `around_training`: each `with sampler():` is one sampling window."""
        return self

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def mean(self) -> float | None:
        return sum(self.samples) / len(self.samples) if self.samples else None


def sampling(*samplers: Sampler | None) -> Callable[[], contextlib.AbstractContextManager]:
    """`fit`'s `around_training` for several samplers at once (None ones left out): each window opens them all."""
    present = [s for s in samplers if s is not None]

    def window() -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        for sampler in present:
            stack.enter_context(sampler())
        return stack

    return window


def gpu_utilization_reader(device) -> Callable[[], float] | None:
    """NVML's "percent of time a kernel ran" for this GPU over its last sample period; None off CUDA or
    without NVML."""
    if device.type != "cuda":
        return None
    import torch

    try:
        torch.cuda.utilization(device)
    except Exception:
        return None
    return lambda: torch.cuda.utilization(device)
