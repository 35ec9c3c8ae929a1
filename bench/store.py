"""The parquet schema (one dataclass per table) and atomic shard writing: one shard per run, tmp + rename.

`pandas.read_parquet("<results>/<suite>/runs")` loads a suite's run table; pyarrow skips the hidden
temporary files, so a reader never sees half a shard, and a killed writer leaves none.
"""
from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

STATUSES = ("ok", "failed", "oom", "diverged", "interrupted")


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
class RunRow:
    """One run: variant × weights × data set × recipe × seed. Accuracies are fractions in [0, 1]."""

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
    params: int | None = None
    trainable_params: int | None = None
    macs: int | None = None  # fused multiply-adds per image (fvcore)
    flops: int | None = None  # 2 × macs
    activations: int | None = None
    input_size: int | None = None  # pixels per side
    num_classes: int | None = None
    epochs: int | None = None  # epochs asked for by the recipe
    epochs_run: int | None = None  # epochs trained (fewer on early stopping or failure)
    best_val_acc: float | None = None
    best_epoch: int | None = None
    test_acc: float | None = None  # at best_epoch: the test set never chooses anything
    final_val_acc: float | None = None
    epoch_time_s: float | None = None  # median over epochs
    train_time_s: float | None = None  # sum of epoch times
    data_time_s: float | None = None  # sum over epochs
    images_per_s: float | None = None  # median over epochs
    peak_mem_mb: float | None = None
    mem_kind: str | None = None  # cuda_allocated | cpu_rss
    peak_reserved_mb: float | None = None  # CUDA only: torch's allocator reservation
    nvml_used_mb: float | None = None  # CUDA only: device memory in use per NVML at the end of the run
    latency_ms_b1: float | None = None  # median forward pass, batch 1, eval mode
    latency_ms_bN: float | None = None  # median forward pass at latency_batch
    latency_batch: int | None = None
    device: str | None = None
    device_name: str | None = None
    num_threads: int | None = None
    torch_version: str | None = None
    torchvision_version: str | None = None
    git_sha: str | None = None
    config_hash: str | None = None
    recipe: str | None = None  # the recipe as JSON
    started_at: str | None = None  # ISO 8601, UTC
    finished_at: str | None = None
    classes: list[str] = field(default_factory=list)
    confusion: list[int] = field(default_factory=list)  # test confusion counts at best_epoch, row-major, true × predicted


ARROW_TYPES = {int: pa.int64(), float: pa.float64(), str: pa.string(), bool: pa.bool_(),
               list[int]: pa.list_(pa.int64()), list[str]: pa.list_(pa.string())}


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


def write_shard(rows: list, directory: Path, name: str) -> Path:
    """Write `rows` (dataclasses of one type) to `directory/name.parquet` atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    schema = arrow_schema(type(rows[0]))
    table = pa.Table.from_pylist([dataclasses.asdict(r) for r in rows], schema=schema)
    final = directory / f"{name}.parquet"
    tmp = directory / f".{name}.{os.getpid()}.tmp"  # hidden: readers of the folder skip it
    pq.write_table(table, tmp)
    os.replace(tmp, final)  # atomic on POSIX: the old shard or the new one, never half of either
    return final


def runs_dir(results: Path, suite: str) -> Path:
    return Path(results) / suite / "runs"


def epochs_dir(results: Path, suite: str) -> Path:
    return Path(results) / suite / "epochs"


def load_table(directory: Path, row_type: type) -> pd.DataFrame:
    """All shards of a folder as one DataFrame (empty, with the schema's columns, when there are none)."""
    if not directory.is_dir() or not any(directory.glob("*.parquet")):
        return pd.DataFrame(columns=[f.name for f in dataclasses.fields(row_type)])
    return pd.read_parquet(directory, schema=arrow_schema(row_type))


def load_runs(results: Path, suite: str) -> pd.DataFrame:
    return load_table(runs_dir(results, suite), RunRow)


def load_epochs(results: Path, suite: str) -> pd.DataFrame:
    return load_table(epochs_dir(results, suite), EpochRow)


def suites_in(results: Path) -> list[str]:
    """Suites that have a runs folder under `results`, sorted."""
    root = Path(results)
    return sorted(p.parent.name for p in root.glob("*/runs") if p.is_dir()) if root.is_dir() else []
