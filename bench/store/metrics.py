"""The catalogue of what a run measures: one entry per measured column, its one home. Each entry says the column's
parquet type and meaning, its header with the unit, display scale and decimals, which way is better, how `bench
compare` decides a change in it, and where it is shown.

Everything else reads it: `RunRow`'s measured fields (bench.store.schema), the report's comparison table, `bench
run`'s summary, `bench compare`'s measures and `--fail-if` keys, TensorBoard's HParams metrics, and the README's
schema (checked by tests/test_readme.py). A column with a `derive` rule is computed from the finished row, so that
the entry is all it takes; a measured one also needs the code that measures it (bench/worker/run.py sets it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

HIGHER, LOWER = "higher", "lower"  # which way is better
# How `bench compare` decides a change (bench.report.compare): accuracy over seeds; a ratio over per-run values; a
# latency's ratio (per-process medians below three runs a side); an exact count.
ACCURACY, RUNS, PROCESSES, EXACT = "accuracy", "runs", "processes", "exact"


@dataclass(frozen=True)
class Metric:
    """A measured run column. `header` may hold {size}, {batch} or {mem_kind}, filled from an experiment's rows;
    `name` is the header without them (bench compare's rows, whose sides may differ in those)."""

    column: str
    header: str
    meaning: str  # what the value is, with its unit: RunRow's comment and the README's schema row
    type: type = float  # the parquet type; the RunRow field is `type | None`
    scale: float = 1.0
    digits: int = 2
    better: str | None = None  # HIGHER or LOWER; None: neither
    rule: str | None = None  # how `bench compare` decides a change; None: not compared
    key: str | None = None  # `bench compare`'s name of the measure and its `--fail-if` key
    name: str | None = None  # compare's label when the header holds an experiment's facts
    same_test_as: str | None = None  # a measure read from another's test (images/s from epoch time), by key
    machine: str | None = None  # the column of the machine's speed as this was measured (a time, a latency)
    kind: str | None = None  # the column saying what the figure measures: sides that differ in it are not compared
    spread: bool = True  # varies from seed to seed (shown as mean ± sd)
    timing: bool = False  # a time or throughput: flagged when its spread over seeds is large
    optional: bool = False  # left out of a table where no row has a value (e.g. GPU utilisation on a CPU)
    summary: bool = False  # a column of `bench run`'s summary
    hparams: bool = False  # a metric of TensorBoard's HParams view (tag run/<column>)
    paper: bool = False  # a column of `bench report --format latex` and csv (bench.report.paper)
    first: bool = False  # a key column: the report's comparison table shows it first, in view at 1,400 px
    derive: Callable[[object], float | None] | None = None  # computed from the finished RunRow

    @property
    def label(self) -> str:
        return self.name or self.header

    @property
    def lower_is_better(self) -> bool:
        return self.better == LOWER

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


# In the order tables show them: what a comparison is about first (accuracy, time, memory, latency, size).
METRICS = [
    Metric("test_acc", "test acc (%)", "test accuracy of the best-validation weights (a fraction)", float, 100, 2,
           HIGHER, ACCURACY, "accuracy", summary=True, hparams=True, paper=True, first=True),
    Metric("epoch_time_s", "epoch time (s)", "median training time of an epoch over epochs (s; evaluation excluded)",
           float, 1, 2, LOWER, RUNS, "time", machine="machine_tflops", timing=True, summary=True, hparams=True,
           paper=True, first=True),
    Metric("images_per_s", "images/s", "median training throughput over epochs (images/s)", float, 1, 0, HIGHER, RUNS,
           "throughput", same_test_as="time", timing=True, summary=True, hparams=True),
    Metric("peak_mem_mb", "peak mem (MB, {mem_kind})", "peak memory while training (MB, of `mem_kind`)", float, 1, 0,
           LOWER, RUNS, "memory", name="peak mem (MB)", kind="mem_kind", summary=True, hparams=True, paper=True),
    Metric("latency_ms_b1", "latency b1 (ms)", "eval-mode forward pass at batch 1 (ms): the median of its processes' "
           "medians", float, 1, 2, LOWER, PROCESSES, "latency_b1", machine="latency_machine_tflops", timing=True,
           paper=True),
    Metric("latency_ms_bN", "latency b{batch} (ms)", "the same at `latency_batch` (ms)", float, 1, 2, LOWER, PROCESSES,
           "latency_bN", name="latency bN (ms)", machine="latency_machine_tflops", timing=True),
    Metric("macs", "GMACs @{size}px", "multiply-adds per image at `input_size` of convolutions, linear layers and "
           "matrix products", int, 1e-9, 3, LOWER, EXACT, "macs", name="GMACs", spread=False, summary=True,
           hparams=True, paper=True, first=True),
    Metric("params", "params (M)", "parameter count", int, 1e-6, 2, LOWER, EXACT, "params", spread=False, summary=True,
           paper=True, first=True),
    Metric("best_val_acc", "best val acc (%)", "the highest validation accuracy over epochs (a fraction)", float, 100, 2,
           HIGHER, summary=True, hparams=True),
    Metric("mfu", "MFU (%)", "model FLOPs utilisation: `train_tflops` / `peak_tflops` (a fraction)", float, 100, 1,
           HIGHER, timing=True, optional=True),
    Metric("time_to_95pct_s", "time to 95% of best val (s)", "training seconds (sum of epoch times) until validation "
           "accuracy first reached 95% of the run's best", float, 1, 1, LOWER, timing=True, optional=True),
    Metric("gpu_util_pct", "GPU util (%)", "CUDA only: mean NVML utilisation (% of time a kernel ran) over the "
           "training epochs", float, 1, 0, HIGHER, timing=True, optional=True),
]
BY_COLUMN = {m.column: m for m in METRICS}
COMPARED = [m for m in METRICS if m.rule]  # bench compare's measures, in this order
BY_KEY = {m.key: m for m in COMPARED}
SUMMARY = [m for m in METRICS if m.summary]
HPARAMS = [m for m in METRICS if m.hparams]


def derive(row: object) -> None:
    """Fill the derived columns of a finished run row from its other columns (None where they are missing)."""
    for m in METRICS:
        if m.derive is not None:
            try:
                setattr(row, m.column, m.derive(row))
            except (TypeError, ZeroDivisionError):  # a column it reads is missing (a failed run)
                setattr(row, m.column, None)
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
