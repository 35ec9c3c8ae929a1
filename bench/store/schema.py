"""The parquet schema: one dataclass per table (runs, epochs, predictions), each column with its type and unit.

The arrow schema of a table follows from its dataclass's type hints (bench.store.shards writes and reads it).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field

import pyarrow as pa

from .status import STATUSES  # noqa: F401  (the parquet `status` vocabulary, re-exported for readers of the schema)


def now() -> str:
    """The time a row records (started_at, finished_at): ISO 8601, UTC, to the second."""
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class EpochRow:
    """One epoch of one run. Accuracies are fractions in [0, 1]; times in seconds."""

    run_id: str
    epoch: int  # 1-based
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float  # learning rate at the end of the epoch
    epoch_time_s: float  # training only (data + compute), evaluation excluded
    data_time_s: float  # of which: fetching and augmenting batches
    images_per_s: float  # training images / epoch_time_s


@dataclass
class PredictionRow:
    """One test image of one run, scored by the best-validation weights: what per-image paired tests need."""

    run_id: str
    index: int  # position in the test split (the same images in the same order for every run of an experiment)
    label: int
    predicted: int
    probability: float  # softmax probability of the predicted class


@dataclass
class RunFacts:
    """What a run is and how it went, less what it measures (the catalogue's columns, bench.store.metrics):
    together they make `RunRow`. Accuracies are fractions in [0, 1]."""

    run_id: str
    suite: str
    variant: str
    label: str  # what reports show: the variant, plus its starting weights when pretrained
    weights: str  # "none" (from scratch), "imagenet" or a file path
    dataset: str
    synthetic_data: bool
    seed: int
    status: str  # one of STATUSES
    error: str | None = None
    trainable_params: int | None = None
    flops: int | None = None  # 2 × macs
    other_ops: int | None = None  # what fvcore counts beyond macs: batch norm, pooling, element-wise ops
    activations: int | None = None
    input_size: int | None = None  # pixels per side
    num_classes: int | None = None
    train_images: int | None = None  # images per split, as the run saw them
    val_images: int | None = None
    test_images: int | None = None
    converted_images: int | None = None  # stored in a mode RGB cannot hold as is (16-bit, palette+alpha, CMYK)
    data_mb: float | None = None  # the run's images and labels of all three splits as it holds them (MB = 2^20 bytes):
    # in memory for digits, MNIST, CIFAR and fake, mapped from the image cache for image folders; not in peak_mem_mb
    norm_mean: list[float] = field(default_factory=list)  # per-channel input normalisation, on the [0, 1] scale
    norm_std: list[float] = field(default_factory=list)
    norm_source: str | None = None  # where they come from: the training split, or the pretrained weights' own
    epochs: int | None = None  # epochs asked for by the recipe
    epochs_run: int | None = None  # epochs trained (fewer on early stopping or failure)
    best_epoch: int | None = None
    final_val_acc: float | None = None
    plateaued: bool | None = None  # best val acc rose ≤ 1 point over the last third of the epochs (bench.measure.convergence)
    epochs_to_95pct: int | None = None  # epochs until val acc first reached 95% of the run's best
    train_time_s: float | None = None  # sum of epoch times
    data_time_s: float | None = None  # sum over epochs
    mem_kind: str | None = None  # cuda_allocated | cpu_training_rss | cpu_rss (bench.core.device.peak_memory)
    peak_reserved_mb: float | None = None  # CUDA only: torch's allocator reservation
    nvml_used_mb: float | None = None  # CUDA only: device memory in use per NVML at the end of the run
    latency_ms_b1_iqr: float | None = None  # interquartile range of the batch-1 calls
    latency_ms_bN_iqr: float | None = None
    latency_batch: int | None = None
    latency_ms_b1_per_process: list[float] = field(default_factory=list)  # the median of each measuring process
    latency_ms_bN_per_process: list[float] = field(default_factory=list)  # (latency_ms_* is their median)
    latency_processes: int | None = None  # fresh processes that timed the forward pass (bench.worker.latency)
    latency_remeasured_at: str | None = None  # never written by a run: filled on reading when `bench latency` timed
    # this run's model again on a quiet machine (its latency table), whose figures then stand in for the run's own
    precision: str | None = None  # fp32 (TF32 off) | tf32 | bf16 | fp16: see bench.store.speed
    channels_last: bool | None = None  # NHWC memory format for model and inputs: the one the run trained in
    speed_chosen_by: str | None = None  # who chose that memory format: measurement (the faster of the two,
    # bench.train.probe) or user (the recipe, a suite file or --channels-last / --no-channels-last): bench.store.speed
    step_ms_nchw: float | None = None  # the probe's median training step in NCHW (ms); with step_ms_channels_last,
    step_ms_channels_last: float | None = None  # what the choice was made on (empty when the user chose)
    speed_probe_s: float | None = None  # seconds this run spent timing the formats, before training and outside
    # setup_s; 0 when an earlier run's choice was read from the results folder's speed_choices.json
    compile: str | None = None  # torch.compile mode of the training step, "off" when eager
    compile_s: float | None = None  # seconds spent compiling (and capturing graphs) in the warm-up, never in an epoch
    setup_s: float | None = None  # process start to the first timed training step, less speed_probe_s: the run's
    # fixed cost
    resumed_after_epochs: list[int] = field(default_factory=list)  # stopped and resumed from its checkpoint after
    # these epochs (bench.worker.resume); empty when it ran in one go
    checkpoint_s: float | None = None  # seconds spent writing its rolling checkpoint, after epochs, never inside one
    train_tflops: float | None = None  # 3 × flops × images_per_s / 1e12 (achieved training TFLOP/s)
    peak_tflops: float | None = None  # this device's dense matmul peak at this precision, measured (peak_tflops.json)
    machine_tflops: float | None = None  # the machine's speed as it trained: the faster of two probes, before and after
    latency_machine_tflops: float | None = None  # the same around its latency timing (the run, or `bench latency`)
    device: str | None = None
    device_name: str | None = None
    num_threads: int | None = None
    host: str | None = None  # the machine it trained on
    device_slot: str | None = None  # cuda:<physical index>, or cpu:<core set> (bench.measure.isolation)
    contended: bool | None = None  # another run of this harness trained on the same slot meanwhile: timings shared
    contended_with: list[str] = field(default_factory=list)  # those runs' ids
    load_per_core: float | None = None  # runnable threads of other processes per core, mean over the training (Linux)
    loaded: bool | None = None  # load_per_core ≥ LOADED_PER_CORE (bench.store.metrics): timings of a busy machine
    torch_version: str | None = None
    torchvision_version: str | None = None
    git_sha: str | None = None
    config_hash: str | None = None  # hash of `identity`: equal hashes, same kind of number
    experiment_hash: str | None = None  # hash of the identity without seed, variant and weights
    identity: str | None = None  # JSON: everything that decides the result (architecture, weights, data, recipe, ...)
    recipe: str | None = None  # the recipe as JSON
    started_at: str | None = None  # ISO 8601, UTC
    finished_at: str | None = None
    suite_description: str | None = None  # the suite as it was when the run was made, so that the
    suite_labels: list[str] = field(default_factory=list)  # results folder describes itself; [0] = baseline
    suite_published: str | None = None  # JSON list of published references (bench.config.suite.Published)
    min_test_acc: float | None = None  # the suite's promise for this entry on its own data set and recipe
    on_suite_defaults: bool | None = None  # run on the suite's own data set and recipe (the report shows it first)
    role: str | None = None  # run | trial (bench.store.tuning.Role); empty in rows made before tuning existed
    tuning: str | None = None  # trials: JSON {"space": {field: [values]}, "base": {field: shared value}, "seeds": N}
    tuning_hash: str | None = None  # trials: what the trials of one tuning share (bench.store.tuning.tuning_hash)
    tuned_experiment_hash: str | None = None  # trials: the experiment of the normal runs of the trial's recipe
    shared_experiment_hash: str | None = None  # trials: the experiment of the normal runs of the shared recipe
    classes: list[str] = field(default_factory=list)
    train_per_class: list[int] = field(default_factory=list)  # images of each class (in `classes` order)
    val_per_class: list[int] = field(default_factory=list)
    test_per_class: list[int] = field(default_factory=list)
    confusion: list[int] = field(default_factory=list)  # test confusion counts at best_epoch, row-major, true × predicted
    variant_source: str | None = None  # built-in, module, entry point or timm (models.outside)
    variant_origin: str | None = None  # where an outside variant came from: its file, its package and version


def with_measures(facts: type, name: str) -> type:
    """`facts` with one `type | None` field per entry of the catalogue (bench.store.metrics.METRICS), in its order:
    the row a run writes."""
    from .metrics import METRICS

    made = dataclasses.make_dataclass(name, [(m.column, typing.Optional[m.type], field(default=None)) for m in METRICS],
                                      bases=(facts,))
    made.__module__, made.__qualname__ = __name__, name  # pickled and documented as bench.store.schema.RunRow
    made.__doc__ = ("One run: variant × weights × data set × recipe × seed; its facts (RunFacts) and what it "
                    "measured (bench.store.metrics.METRICS). Accuracies are fractions in [0, 1].")
    return made


RunRow = with_measures(RunFacts, "RunRow")

ARROW_TYPES = {int: pa.int64(), float: pa.float64(), str: pa.string(), bool: pa.bool_(),
               list[int]: pa.list_(pa.int64()), list[str]: pa.list_(pa.string()), list[float]: pa.list_(pa.float64())}


@dataclass
class LatencyRow:
    """One run's model timed again by `bench latency` (bench.worker.latency), on a machine chosen to be quiet. On
    reading (bench.store.shards.load_runs) these figures stand in for the run's own latency columns, and the run's
    `latency_remeasured_at` says when they were made."""

    run_id: str
    latency_ms_b1: float  # median over processes of each process's median call (ms)
    latency_ms_bN: float
    latency_ms_b1_iqr: float  # the typical process's interquartile range of calls (ms)
    latency_ms_bN_iqr: float
    latency_ms_b1_per_process: list[float]
    latency_ms_bN_per_process: list[float]
    latency_processes: int
    latency_batch: int
    measured_at: str  # ISO 8601, UTC
    host: str
    num_threads: int | None = None
    latency_machine_tflops: float | None = None  # the machine's speed as it timed (bench.measure.utilization)


LATENCY_COLUMNS = ("latency_ms_b1", "latency_ms_bN", "latency_ms_b1_iqr", "latency_ms_bN_iqr",
                   "latency_ms_b1_per_process", "latency_ms_bN_per_process", "latency_processes",
                   "latency_machine_tflops")  # stand in


def arrow_schema(row_type: type) -> pa.Schema:
    """The parquet schema of a row dataclass, from its type hints (Optional → nullable)."""
    hints = typing.get_type_hints(row_type)
    fields = []
    for f in dataclasses.fields(row_type):
        hint = hints[f.name]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        base = args[0] if typing.get_origin(hint) in (typing.Union, types.UnionType) else hint
        fields.append(pa.field(f.name, ARROW_TYPES[base]))
    return pa.schema(fields)
