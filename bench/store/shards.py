"""Atomic shard writing and reading: one parquet shard per run and table, written under a hidden temporary name and
renamed, so a reader never sees half a shard and a killed writer leaves none.

`pandas.read_parquet("<results>/<suite>/runs")` loads a suite's run table; pyarrow skips the hidden files.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .paths import epochs_dir, latency_dir, predictions_dir, runs_dir
from .schema import LATENCY_COLUMNS, EpochRow, LatencyRow, PredictionRow, RunRow, arrow_schema


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


# Integer and boolean columns keep their type when a failed run leaves them empty (pandas' nullable dtypes).
NULLABLE = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}


def load_table(directory: Path, row_type: type, run_ids: list[str] | None = None) -> pd.DataFrame:
    """All shards of a folder (or only those of `run_ids`) as one DataFrame; empty, with the columns, if none."""
    schema = arrow_schema(row_type)
    files = sorted(directory.glob("*.parquet")) if directory.is_dir() else []
    if run_ids is not None:
        wanted = {f"{r}.parquet" for r in run_ids}
        files = [f for f in files if f.name in wanted]
    table = pq.ParquetDataset(files, schema=schema).read() if files else schema.empty_table()
    return table.to_pandas(types_mapper=NULLABLE.get)


def load_runs(results: Path, suite: str) -> pd.DataFrame:
    """A suite's run table, with the latency `bench latency` timed again standing in for a run's own, and each JSON
    column parsed once (PARSED): readers take the parsed values, never the text."""
    return parsed(remeasured(load_table(runs_dir(results, suite), RunRow), load_latency(results, suite)))


# The run table's JSON columns and the column each is parsed into on reading (dict or list; None when empty).
PARSED = {"identity": "parsed_identity", "recipe": "parsed_recipe", "suite_published": "parsed_published"}


def decode(text: object) -> object:
    """One JSON cell as Python values (None for an empty cell): the one place a run's JSON columns are parsed."""
    return json.loads(text) if isinstance(text, str) and text else None


def parsed(runs: pd.DataFrame) -> pd.DataFrame:
    """`runs` with each JSON column parsed into its PARSED column, once per row."""
    for column, into in PARSED.items():
        runs[into] = pd.Series([decode(t) for t in runs[column]], index=runs.index, dtype=object)
    return runs


def load_latency(results: Path, suite: str) -> pd.DataFrame:
    return load_table(latency_dir(results, suite), LatencyRow)


def remeasured(runs: pd.DataFrame, latency: pd.DataFrame) -> pd.DataFrame:
    """`runs` with each re-timed run's latency columns replaced by the new figures and `latency_remeasured_at` set."""
    if latency.empty or runs.empty:
        return runs
    runs = runs.copy()
    where = {run_id: i for i, run_id in runs["run_id"].items()}
    for _, new in latency.iterrows():
        i = where.get(new["run_id"])
        if i is None:
            continue
        for column in LATENCY_COLUMNS:
            runs.at[i, column] = cell(new[column])
        runs.at[i, "latency_remeasured_at"] = new["measured_at"]
    return runs


def load_epochs(results: Path, suite: str) -> pd.DataFrame:
    return load_table(epochs_dir(results, suite), EpochRow)


def load_predictions(results: Path, suite: str, run_ids: list[str]) -> pd.DataFrame:
    return load_table(predictions_dir(results, suite), PredictionRow, run_ids)


def merged(tables: list[pd.DataFrame], key: list[str]) -> pd.DataFrame:
    """The tables of several results folders as one; a shard found in more than one (a copied run) counts once."""
    frames = [t for t in tables if not t.empty]
    if not frames:
        return tables[0] if tables else pd.DataFrame()
    return pd.concat(frames, ignore_index=True).drop_duplicates(key, keep="first").reset_index(drop=True)


def load_runs_of(folders: list[Path], suite: str) -> pd.DataFrame:
    """A suite's run table over several results folders (each run once)."""
    return merged([load_runs(f, suite) for f in folders], ["run_id"])


def load_epochs_of(folders: list[Path], suite: str) -> pd.DataFrame:
    return merged([load_epochs(f, suite) for f in folders], ["run_id", "epoch"])


def load_predictions_of(folders: list[Path], suite: str, run_ids: list[str]) -> pd.DataFrame:
    return merged([load_predictions(f, suite, run_ids) for f in folders], ["run_id", "index"])


def suites_in(results: Path) -> list[str]:
    """Suites that have a runs folder under `results`, sorted."""
    root = Path(results)
    return sorted(p.parent.name for p in root.glob("*/runs") if p.is_dir()) if root.is_dir() else []


def cell(value: object) -> object:
    """A loaded cell as the row dataclass holds it: pandas' NA/NaN → None, numpy arrays → lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return None if value is None or (not isinstance(value, (list, str)) and pd.isna(value)) else value


def read_run_row(results: Path, suite: str, run_id: str) -> RunRow | None:
    """The run row a shard holds, as the dataclass (None when the run has no shard)."""
    path = runs_dir(results, suite) / f"{run_id}.parquet"
    if not path.is_file():
        return None
    record = load_table(path.parent, RunRow, [run_id]).iloc[0].to_dict()
    return RunRow(**{k: cell(v) for k, v in record.items()})


def has_row(results: Path, suite: str, run_id: str) -> bool:
    return (runs_dir(results, suite) / f"{run_id}.parquet").is_file()
