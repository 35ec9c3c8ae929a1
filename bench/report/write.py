"""`bench report`: one markdown file per suite, one section per experiment, pictures beside it.

Reads results folders only: the rows carry their suite's order, baseline, description and published figures.
Several folders (runs of several machines, or copies) are read as one: a run found twice counts once, and an
identity run on two machines counts its newest row (bench.report.experiments); other devices are other experiments.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..core.errors import UsageError
from ..store.shards import load_epochs_of, load_predictions_of, load_runs_of, suites_in
from .experiments import experiments, titles
from .judge import shortfalls
from .sections import UNITS, experiment_section


@dataclass
class Written:
    """One suite's report file, and what `--strict` fails on in it ("<section title>: <label>: <why>")."""

    path: Path
    shortfalls: list[str]


def build_report(suite: str, runs: pd.DataFrame, epochs: pd.DataFrame, results: list[Path], out: Path
                 ) -> tuple[str, list[str]]:
    """The markdown of one suite's report and its shortfalls; its pictures are written under `out/<suite>/`."""
    found = experiments(runs)
    description = found[0].description if found else ""
    parts = [f"# {suite}", description] if description else [f"# {suite}"]
    if len(results) > 1:
        parts.append(f"Read from {len(results)} results folders ({', '.join(f'`{f}`' for f in results)}): a run found "
                     "in several counts once, and runs of the same identity count their newest row.")
    if len(found) > 1:
        parts.append(f"This results folder holds {len(found)} experiments of this suite; each has its own section, "
                     "and no numbers are averaged across them.")
    problems = []
    for title, exp in zip(titles(suite, found), found):
        predictions = readable(lambda: load_predictions_of(results, suite, list(exp.ok["run_id"])), results, suite)
        parts.append(experiment_section(suite, title, exp, epochs, predictions, out))
        problems += [f"{title}: {why}" for why in shortfalls(exp)]
    parts.append(UNITS)
    return "\n\n".join(parts) + "\n", problems


def readable(read, results: list[Path], suite: str):
    """`read()`, or a one-sentence error naming the folder when a shard cannot be read (pyarrow raises several
    types for a broken file; all mean the same to the user)."""
    try:
        return read()
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        where = " or ".join(f"{folder}/{suite}" for folder in results)
        raise UsageError(f"cannot read the results of suite '{suite}' under {where}: {first}; "
                         "delete the broken file or re-run the suite") from None


def read_tables(results: list[Path], suite: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A suite's run and epoch tables over the folders, or a one-sentence error when they cannot be read."""
    return readable(lambda: (load_runs_of(results, suite), load_epochs_of(results, suite)), results, suite)


def write_report(name: str, runs: pd.DataFrame, epochs: pd.DataFrame, results: list[Path], out: Path) -> Written:
    """`<out>/<name>.md` and its pictures `<out>/<name>/**`, built in a staging folder beside them and moved into
    place only when complete: a report that fails half-way leaves the previous report and its pictures as they
    were."""
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=out))
    try:
        markdown, problems = build_report(name, runs, epochs, results, staging)
        (staging / f"{name}.md").write_text(markdown)
        (staging / name).mkdir(exist_ok=True)
        old = out / f".{name}.old.{os.getpid()}"
        if (out / name).exists():
            os.replace(out / name, old)
        os.replace(staging / name, out / name)
        os.replace(staging / f"{name}.md", out / f"{name}.md")
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Written(out / f"{name}.md", problems)


def write_reports(results: Path | list[Path], out: Path, suite: str | None = None) -> list[Written]:
    """Write `<out>/<suite>.md` and `<out>/<suite>/**.png` for the given suite, or for every suite found in any of
    the results folders."""
    results = [Path(r) for r in (results if isinstance(results, list) else [results])]
    out = Path(out)
    where = "', '".join(str(r) for r in results)
    found = sorted(set().union(*(suites_in(r) for r in results)))
    if not found:
        raise UsageError(f"no results under '{where}': run `bench run --suite NAME` first")
    if suite is not None and suite not in found:
        raise UsageError(f"no results for suite '{suite}' under '{where}'; found: {', '.join(found)}")
    written = []
    for name in [suite] if suite else found:
        runs, epochs = read_tables(results, name)
        if runs.empty:
            raise UsageError(f"no runs recorded for suite '{name}' under '{where}'")
        written.append(write_report(name, runs, epochs, results, out))
    return written
