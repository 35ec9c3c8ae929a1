"""`bench report`: per suite, a markdown file with its pictures beside it and/or one self-contained HTML page; one
section per experiment.

Reads results folders only: the rows carry their suite's order, baseline, description and published figures.
Several folders (runs of several machines, or copies) are read as one: a run found twice counts once, and an
identity run on two machines counts its newest row (bench.report.experiments); other devices are other experiments.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..core.errors import UsageError
from ..store.shards import is_results_folder, load_epochs_of, load_predictions_of, load_runs_of, suites_in
from .experiments import experiments, titles
from .formats import FORMATS, PAPER_SUFFIXES
from .judge import shortfalls
from .markdown import plain
from .manifest import commit, previous_manifest, refuse_in_the_way, refuse_other_results, results_named, staged
from .sections import UNITS, experiment_section
from .tuning import tuning_section, tunings


@dataclass
class Written:
    """One suite's report files, and what `--strict` fails on in them ("<section title>: <label>: <why>")."""

    paths: list[Path]
    shortfalls: list[str]

    @property
    def path(self) -> Path:
        return self.paths[0]


def build_report(suite: str, runs: pd.DataFrame, epochs: pd.DataFrame, results: list[Path], out: Path,
                 vectors: dict | None = None, found: list | None = None) -> tuple[str, list[str]]:
    """The markdown of one suite's report and its shortfalls; its pictures are written under `out/<suite>/` (and,
    with `vectors`, the SVG of each plot with hover texts kept there by its PNG's path). `found`: the suite's
    experiments when the caller has them already."""
    found = experiments(runs) if found is None else found
    tuned = tunings(runs)
    description = found[0].description if found else (runs["suite_description"].dropna().iloc[0]
                                                      if runs["suite_description"].notna().any() else "")
    description = plain(description, code=True)  # a user's text, shown as text (its `code` marks kept)
    parts = [f"# {suite}", description] if description else [f"# {suite}"]
    if len(results) > 1:
        folders = plain(", ".join(str(f) for f in results))
        parts.append(f"Read from {len(results)} results folders ({folders}): a run found "
                     "in several counts once, and runs of the same identity count their newest row.")
    if len(found) > 1:
        parts.append(f"This results folder holds {len(found)} experiments of this suite; each has its own section, "
                     "and no numbers are averaged across them.")
    problems = []
    for title, exp in zip(titles(suite, found), found):
        predictions = readable(lambda: load_predictions_of(results, suite, list(exp.ok["run_id"])), results, suite)
        parts.append(experiment_section(suite, title, exp, epochs, predictions, out, vectors))
        problems += [f"{title}: {why}" for why in shortfalls(exp)]
    by_key = {exp.key: exp for exp in found}
    for tuning in tuned:
        shared = by_key.get(tuning.trials["shared_experiment_hash"].dropna().iloc[0]) \
            if tuning.trials["shared_experiment_hash"].notna().any() else None
        parts.append(tuning_section(suite, tuning, runs, shared, out, vectors))
    parts.append(UNITS)
    return "\n\n".join(parts) + "\n", problems


def problems_of(suite: str, runs: pd.DataFrame) -> list[str]:
    """What `--strict` fails on, without writing a report."""
    found = experiments(runs)
    return [f"{title}: {why}" for title, exp in zip(titles(suite, found), found) for why in shortfalls(exp)]


def readable(read, results: list[Path], suite: str):
    """`read()`, which sets aside each damaged shard it meets (bench.store.quarantine, one line each), followed by
    a line counting them; or a one-sentence error naming the folder when the folder itself cannot be read."""
    from ..store import quarantine

    before = quarantine.count()
    try:
        found = read()
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        where = " or ".join(f"{folder}/{suite}" for folder in results)
        raise UsageError(f"cannot read the results of suite '{suite}' under {where}: {first}; "
                         "delete the broken file or re-run the suite") from None
    quarantine.say_summary(before, then=f"the report of suite '{suite}' is made from the rest")
    return found


def read_tables(results: list[Path], suite: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A suite's run and epoch tables over the folders (damaged shards set aside and counted), or a one-sentence
    error when they cannot be read."""
    return readable(lambda: (load_runs_of(results, suite), load_epochs_of(results, suite)), results, suite)


def write_report(name: str, runs: pd.DataFrame, epochs: pd.DataFrame, results: list[Path], out: Path,
                 fmt: str = "markdown", force: bool = False) -> Written:
    """`<out>/<name>.md` with its pictures `<out>/<name>/**` and/or the page `<out>/<name>.html` (`fmt`, one of
    FORMATS), built in a staging folder beside them and moved into place only when complete: a report that fails
    half-way leaves the previous report and its pictures as they were. Only files the last report wrote (its
    manifest, bench.report.manifest) are replaced or removed; a report made from other results, or a file bench did
    not write, only with `force`."""
    out.mkdir(parents=True, exist_ok=True)
    suffixes = FORMATS[fmt]
    old = previous_manifest(out, name, force)
    made_from = results_named(out, results)
    if not force:
        refuse_other_results(out, name, old, suffixes, made_from)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=out))
    try:
        problems = stage_report(name, runs, epochs, results, staging, suffixes)
        new = staged(staging, name, suffixes, made_from)
        refuse_in_the_way(out, name, new, old, force)
        commit(staging, out, name, new, old)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Written([out / f"{name}{suffix}" for suffix in suffixes], problems)


def stage_report(name: str, runs: pd.DataFrame, epochs: pd.DataFrame, results: list[Path], staging: Path,
                 suffixes: tuple[str, ...]) -> list[str]:
    """Write the report's files (`<name><suffix>`, and for markdown its pictures under `<name>/`) into `staging`;
    returns its shortfalls."""
    if set(suffixes) <= set(PAPER_SUFFIXES):  # tables for a paper: no markdown, no pictures
        from . import paper

        writers = {".tex": paper.latex, ".csv": paper.csv}
        for suffix in suffixes:
            (staging / f"{name}{suffix}").write_text(writers[suffix](name, runs))
        return problems_of(name, runs)
    vectors = {} if ".html" in suffixes else None
    found = experiments(runs)  # once: every section and the page read these, and their judgements
    markdown, problems = build_report(name, runs, epochs, results, staging, vectors, found)
    (staging / name).mkdir(exist_ok=True)
    if ".html" in suffixes:
        from .history import history_section
        from .html import page

        labels = list(dict.fromkeys(label for exp in found for label in exp.labels))
        extra = history_section(runs, labels, staging / name / "history", f"{name}/history", vectors)
        text = markdown.replace("\n\n" + UNITS, "\n\n" + extra + "\n\n" + UNITS) if extra else markdown
        (staging / f"{name}.html").write_text(page(name, text, staging, vectors))
        shutil.rmtree(staging / name / "history", ignore_errors=True)  # only the page shows it
    if ".md" in suffixes:
        (staging / f"{name}.md").write_text(markdown)
    return problems


def results_folder_at(out: Path, results: list[Path]) -> tuple[Path, str] | None:
    """The results folder that `out` is, holds or sits inside, and which: a folder being read, at any depth; any
    other folder that is `out`, one of its parents or one of its children (never a walk)."""
    home = out.expanduser().resolve()
    for folder in (folder for folder in results if folder.expanduser().is_dir()):
        read = folder.expanduser().resolve()
        if read == home or home in read.parents or read in home.parents:
            return folder, "is" if read == home else "holds" if home in read.parents else "sits inside"
    for folder in [home, *home.parents]:
        if is_results_folder(folder):
            return folder, "is" if folder == home else "sits inside"
    try:
        children = sorted(child for child in home.iterdir() if child.is_dir()) if home.is_dir() else []
    except OSError:
        children = []
    held = next((child for child in children if is_results_folder(child)), None)
    return (held, "holds") if held else None


OUT_FIXES = {"is": "choose another --out, e.g. a folder beside it",
             "holds": "move the results folder out of it, or choose another --out",
             "sits inside": "choose an --out outside it, e.g. beside it"}


def refuse_results_out(out: Path, results: list[Path]) -> None:
    """One line when the report's folder is, holds or sits inside a results folder: a report is written outside
    every one, so that no report file is ever among runs."""
    found = results_folder_at(out, results)
    if found:
        folder, how = found
        what = "a results folder" if how == "is" else f"the results folder '{folder}'"
        raise UsageError(f"--out '{out}' {how} {what}, and a report is written outside every results folder: "
                         f"{OUT_FIXES[how]}")


def write_reports(results: Path | list[Path], out: Path, suite: str | None = None, fmt: str = "markdown",
                  force: bool = False) -> list[Written]:
    """Write `<out>/<suite>.md` and `<out>/<suite>/**.png` and/or `<out>/<suite>.html` (`fmt`) for the given suite,
    or for every suite found in any of the results folders; refused when `out` is, holds or sits inside a results
    folder, and (unless `force`) where it would replace a report made from other results or a file bench did not
    write."""
    results = [Path(r) for r in (results if isinstance(results, list) else [results])]
    out = Path(out)
    refuse_results_out(out, results)
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
        written.append(write_report(name, runs, epochs, results, out, fmt, force))
    return written
