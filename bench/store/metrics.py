"""The run metrics a reader sees: column, header with its unit, display scale and decimals, defined once.

The run summary printed by `bench run` and the report's comparison table both format from this table.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """A run column as shown: `header` may hold {size}, {batch} or {mem_kind}, filled from the rows."""

    column: str
    header: str
    scale: float = 1.0
    digits: int = 2
    spread: bool = True  # varies from seed to seed (shown as mean ± sd)
    timing: bool = False  # a time or throughput: flagged when its spread over seeds is large
    optional: bool = False  # left out of a table where no row has a value (e.g. GPU utilisation on a CPU)

    def display(self, value: float) -> str:
        return f"{value * self.scale:.{self.digits}f}"

    def significant(self, value: float, digits: int = 3) -> str:
        """The scaled value to `digits` significant digits, never in exponent form: 0.0368, 11.2, 312, 1400."""
        return significant(value * self.scale, digits)


def significant(value: float, digits: int = 3) -> str:
    if not math.isfinite(value) or value == 0:
        return f"{value:g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{round(value, decimals):.{decimals}f}"


def duration(seconds: float | None) -> str:
    """3 s, 4 min 05 s, 2 h 07 min: a person's reading of a duration; '?' when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


METRICS = [
    Metric("params", "params (M)", 1e-6, 2, spread=False),
    Metric("macs", "GMACs @{size}px", 1e-9, 3, spread=False),
    Metric("peak_mem_mb", "peak mem (MB, {mem_kind})", 1, 0),
    Metric("epoch_time_s", "epoch time (s)", 1, 2, timing=True),
    Metric("images_per_s", "images/s", 1, 0, timing=True),
    Metric("latency_ms_b1", "latency b1 (ms)", 1, 2, timing=True),
    Metric("latency_ms_bN", "latency b{batch} (ms)", 1, 2, timing=True),
    Metric("mfu", "MFU (%)", 100, 1, timing=True, optional=True),
    Metric("time_to_95pct_s", "time to 95% of best val (s)", 1, 1, timing=True, optional=True),
    Metric("gpu_util_pct", "GPU util (%)", 1, 0, timing=True, optional=True),
    Metric("best_val_acc", "best val acc (%)", 100, 2),
    Metric("test_acc", "test acc (%)", 100, 2),
]
BY_COLUMN = {m.column: m for m in METRICS}
# A timing whose sample sd over seeds exceeds this share of its mean is marked as noise in the report.
NOISY_SPREAD = 0.20
# A comparison is overhead-bound (the report warns) when the GPU was busy less than this share of training time,
# or when images/s stay within OVERHEAD_FLAT_THROUGHPUT of each other across variants whose MACs differ by
# OVERHEAD_MACS_RATIO or more: the time then measures Python and kernel launches, not the architectures.
OVERHEAD_GPU_UTIL_PCT = 60
OVERHEAD_FLAT_THROUGHPUT = 0.20
OVERHEAD_MACS_RATIO = 3.0
# A run trained on a busy machine when other processes kept this many runnable threads per core, on average over its
# training (bench.measure.isolation.other_load_reader): its timings are marked.
LOADED_PER_CORE = 1.0
# A forward-latency median is noise when its interquartile range exceeds this share of it (the report marks it).
NOISY_LATENCY_IQR = 0.25


def header(metric: Metric, size: int | str = "?", batch: int | str = "N", mem_kind: str = "n/a") -> str:
    return metric.header.format(size=size, batch=batch, mem_kind=mem_kind)
