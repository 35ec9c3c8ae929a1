"""Atomic shard writing and reading: one parquet shard per run and table, written under a hidden temporary name and
renamed, so a reader never sees half a shard and a killed writer leaves none.

`pandas.read_parquet("<results>/<suite>/runs")` loads a suite's run table; pyarrow skips the hidden files.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from .paths import epochs_dir, is_safe_name, latency_dir, predictions_dir, runs_dir, shard_path, table_results
from .atomic import write_bytes
from .quarantine import set_aside
from .schema import LATENCY_COLUMNS, EpochRow, LatencyRow, PredictionRow, RunRow, arrow_schema


def write_shard(rows: list, directory: Path, name: str) -> Path:
    """Write `rows` (dataclasses of one type) to `directory/name.parquet` atomically (bench.store.atomic: a full disk
    is one line, WriteFault, and leaves no temporary file)."""
    schema = arrow_schema(type(rows[0]))
    table = pa.Table.from_pylist([dataclasses.asdict(r) for r in rows], schema=schema)
    final = shard_path(directory, name)  # a run id that is not one plain file name is refused: nothing outside
    buffer = pa.BufferOutputStream()  # in memory first: the bytes the disk must hold are known before writing
    pq.write_table(table, buffer)
    write_bytes(final, buffer.getvalue().to_pybytes())
    return final


# Integer and boolean columns keep their type when a failed run leaves them empty (pandas' nullable dtypes).
NULLABLE = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}


def load_table(directory: Path, row_type: type, run_ids: list[str] | None = None) -> pd.DataFrame:
    """All shards of a folder (or only those of `run_ids`) as one DataFrame; empty, with the columns, if none."""
    files = sorted(directory.glob("*.parquet")) if directory.is_dir() else []
    if run_ids is not None:
        wanted = {f"{r}.parquet" for r in run_ids}
        files = [f for f in files if f.name in wanted]
    return read_shards(files, row_type, table_results(directory)).to_pandas(types_mapper=NULLABLE.get)


@functools.cache
def required_columns(row_type: type) -> frozenset[str]:
    """The columns every shard of `row_type` holds: its fields without a default (older shards may lack the others,
    added since; they read as empty)."""
    missing = dataclasses.MISSING
    return frozenset(f.name for f in dataclasses.fields(row_type)
                     if f.default is missing and f.default_factory is missing)


def type_fits(found: pa.DataType, wanted: pa.DataType) -> bool:
    """Whether a column of type `found` reads as `wanted` without losing what it means."""
    if found == wanted or pa.types.is_null(found):
        return True
    if pa.types.is_integer(found) and (pa.types.is_integer(wanted) or pa.types.is_floating(wanted)):
        return True
    if pa.types.is_floating(found) and pa.types.is_floating(wanted):
        return True
    if (pa.types.is_string(found) or pa.types.is_large_string(found)) and pa.types.is_string(wanted):
        return True
    lists = (pa.types.is_list(found) or pa.types.is_large_list(found)) and pa.types.is_list(wanted)
    return lists and type_fits(found.value_type, wanted.value_type)


def kind_of(row_type: type) -> str:
    """What a line calls a table's rows: run, epoch, prediction, latency."""
    return row_type.__name__.removesuffix("Row").lower()


schema_of = functools.cache(arrow_schema)  # read once per row type: a folder's every shard is checked against it


@functools.lru_cache(maxsize=64)  # a folder's shards mostly share one schema: checked once
def schema_fault(found: pa.Schema, row_type: type) -> str | None:
    """What makes a shard of schema `found` not one of `row_type` (a required column missing, a column of another
    type), or None when it fits."""
    wanted = schema_of(row_type)
    missing = sorted(required_columns(row_type) - set(found.names))
    if missing:
        more = ", ..." if missing[4:] else ""
        return f"not a shard of {kind_of(row_type)} rows: no column {', '.join(missing[:4])}{more}"
    for field in found:
        index = wanted.get_field_index(field.name)
        if index >= 0 and not type_fits(field.type, wanted.field(index).type):
            return (f"not a shard of {kind_of(row_type)} rows: column {field.name} holds {field.type}, "
                    f"not {wanted.field(index).type}")
    return None


def read_fault(exc: Exception) -> str:
    """What pyarrow's error says is wrong with a file, without the path it repeats."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    text = re.sub(r"^Could not open Parquet input source '.*?': ", "", text)
    return f"unreadable ({text.split('. ')[0].rstrip('.')})"


def read_shard(path: Path, row_type: type, results: Path | None = None) -> pa.Table | None:
    """One shard as a table of `row_type`'s schema, or None when it is damaged (unreadable, or of another schema):
    then it is set aside (bench.store.quarantine) into the quarantine folder of `results` (by default the results
    folder it lies in), said in one line."""
    path = Path(path)
    try:
        fault = schema_fault(pq.read_schema(path), row_type)
        if fault is None:
            table = pq.read_table(path, schema=schema_of(row_type))
            fault = content_fault(table)
            if fault is None:
                return table
    except FileNotFoundError:  # set aside or replaced meanwhile by another process
        return None
    except Exception as exc:  # pyarrow raises several types for a broken file; all mean the same here
        fault = read_fault(exc)
    set_aside([path], results or table_results(path.parent), fault, then="skipped; the rest is read")
    return None


def content_fault(table: pa.Table) -> str | None:
    """What is wrong with the values of a table that parquet read without complaint (bytes flipped inside a page:
    text that is not UTF-8), or None. A JSON cell that is not JSON is found where it is parsed, once (`parsed`)."""
    try:
        table.validate(full=True)  # among others: every string is valid UTF-8
    except pa.ArrowInvalid as exc:
        return f"holds damaged values ({(str(exc).splitlines() or ['invalid'])[0]})"
    return None


def read_shards(files: list[Path], row_type: type, results: Path) -> pa.Table:
    """The shards `files` as one table (empty, with the columns, if none). One dataset read, as fast as pyarrow
    reads a folder, when every shard is sound (it reads, and no required column has a hole: a shard lacking one reads
    as nulls); else each is read on its own (`read_shard`) and the damaged ones are set aside: one bad shard never
    sinks the rest."""
    schema = schema_of(row_type)
    if not files:
        return schema.empty_table()
    try:
        table = ds.dataset([str(f) for f in files], schema=schema, format="parquet").to_table()
        if all(table.column(name).null_count == 0 for name in required_columns(row_type)) and \
                content_fault(table) is None:
            return table
    except Exception:  # a damaged shard among them: found below, file by file
        pass
    tables = [t for t in (read_shard(f, row_type, results) for f in files) if t is not None]
    return pa.concat_tables(tables) if tables else schema.empty_table()


def load_runs(results: Path, suite: str) -> pd.DataFrame:
    """A suite's run table, with the latency `bench latency` timed again standing in for a run's own, and each JSON
    column parsed once (PARSED): readers take the parsed values, never the text."""
    return parsed(remeasured(load_table(runs_dir(results, suite), RunRow), load_latency(results, suite)), results,
                  suite)


# The run table's JSON columns and the column each is parsed into on reading (dict or list; None when empty).
PARSED = {"identity": "parsed_identity", "recipe": "parsed_recipe", "suite_published": "parsed_published"}


def decode(text: object) -> object:
    """One JSON cell as Python values (None for an empty cell): the one place a run's JSON columns are parsed."""
    return json.loads(text) if isinstance(text, str) and text else None


def parsed(runs: pd.DataFrame, results: Path | None = None, suite: str | None = None) -> pd.DataFrame:
    """`runs` with each JSON column parsed into its PARSED column, once per row. A row whose JSON cell is not JSON
    (bytes damaged inside a page that parquet still reads) is dropped and, given its folder, its shard set aside."""
    values: dict[str, list] = {into: [] for into in PARSED.values()}
    damaged = []
    for index, row in zip(runs.index, runs[list(PARSED)].itertuples(index=False)):
        try:
            cells = [decode(text) for text in row]
        except (ValueError, RecursionError):
            damaged.append(index)
            cells = [None] * len(PARSED)
        for into, cell in zip(values, cells):
            values[into].append(cell)
    for into, cells in values.items():
        runs[into] = pd.Series(cells, index=runs.index, dtype=object)
    for index in damaged:
        run_id = runs.at[index, "run_id"]
        if results is not None and suite is not None and is_safe_name(run_id):
            set_aside([runs_dir(results, suite) / f"{run_id}.parquet"], results,
                      "holds damaged values (a JSON column is not JSON)", then="skipped; the rest is read")
    return runs.drop(index=damaged) if damaged else runs


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
    return sorted(p.parent.name for p in root.glob("*/runs") if p.is_dir() and is_safe_name(p.parent.name)) \
        if root.is_dir() else []


def cell(value: object) -> object:
    """A loaded cell as the row dataclass holds it: pandas' NA/NaN → None, numpy arrays → lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return None if value is None or (not isinstance(value, (list, str)) and pd.isna(value)) else value


def read_run_row(results: Path, suite: str, run_id: str) -> RunRow | None:
    """The run row a shard holds, as the dataclass (None when the run has no shard, or a damaged one: set aside)."""
    path = shard_path(runs_dir(results, suite), run_id)
    if not path.is_file():
        return None
    table = load_table(path.parent, RunRow, [run_id])
    if table.empty:
        return None
    return RunRow(**{k: cell(v) for k, v in table.iloc[0].to_dict().items()})


def has_row(results: Path, suite: str, run_id: str) -> bool:
    return shard_path(runs_dir(results, suite), run_id).is_file()


def is_results_folder(folder: Path) -> bool:
    """Whether `folder` holds run shards of a suite (`<suite>/runs/*.parquet`): one listing of the folder and a look
    into each `<suite>/runs`, never a walk."""
    try:
        return any(any(runs.glob("*.parquet")) for runs in Path(folder).glob("*/runs") if runs.is_dir())
    except OSError:
        return False
