"""Every identity a variant was run under in one results folder, side by side in time order, with what changed from
one to the next (`bench compare R --history VARIANT`): rows of older code or data stay readable."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..core.hashing import digest, flatten
from ..store.identity import changes, code_digest
from ..store.metrics import BY_COLUMN
from ..store.shards import PARSED
from ..store.status import Status
from ..store.tuning import is_trial
from .experiments import DEFINING
from .markdown import markdown_table, plain
from .stats import mean_sd


@dataclass
class Version:
    """One identity a variant was run under (seeds aside): when, by which commits, and what it measured."""

    made: str  # the first run's end, UTC
    git_sha: str
    code: str  # short digest of the harness code it ran with
    runs: int
    test_acc: str  # mean ± sd over seeds, %
    epoch_time_s: str  # median over runs
    changed: list[str]  # what differs from the version before (bench.store.identity.changes)
    test_acc_mean: float = float("nan")  # %, as plotted
    epoch_time_median_s: float = float("nan")
    series: int = 1  # versions of one data set, recipe and device; only these are joined by a line
    series_name: str = ""  # "suite defaults", or what sets the series apart from the first: "recipe.lr=0.1"


HEADERS = ["#", "series", "made (UTC)", "git sha", "code digest", "runs", "test acc (%)", "epoch time (s)",
           "what changed since the row before"]


def history_table(versions: list[Version]) -> str:
    """The versions as a markdown table, oldest first (bench compare --history and the HTML report's history)."""
    rows = [[str(i), f"{v.series}: {plain(v.series_name)}", plain(v.made), plain(v.git_sha), plain(v.code), str(v.runs),
             v.test_acc, v.epoch_time_s, plain("; ".join(v.changed))]  # the rows' cells and identities: as text
            for i, v in enumerate(versions, 1)]
    return markdown_table(HEADERS, rows, 4)


def defining(identity: dict) -> dict:
    """What makes an identity's experiment (data set, recipe, device): a change here starts a new series."""
    return {k: v for k, v in flatten(identity).items() if k.startswith(DEFINING)}


def series_names(definitions: list[dict], defaults: list[bool]) -> list[str]:
    """Each series in words: the suite's own defaults, or the first series, and for the rest what differs from it."""
    first = next((i for i, d in enumerate(defaults) if d), 0)
    names = []
    for i, d in enumerate(definitions):
        if i == first:
            names.append("suite defaults" if defaults[i] else "first series")
            continue
        ref = definitions[first]
        diff = [f"{k.split('.', 1)[1] if k.startswith('recipe.') else k}={d.get(k, '–')}"
                for k in sorted(set(d) | set(ref)) if d.get(k) != ref.get(k)]
        names.append(", ".join(diff[:4]) + (f", … ({len(diff)} fields)" if len(diff) > 4 else ""))
    return names


def history(runs: pd.DataFrame, label: str) -> list[Version]:
    """Every identity (seed aside) under which `label` has ok runs, oldest first, each with what changed since the
    one before (the variant's code, the harness's, the data's bytes, the recipe, the libraries) and its series (one
    data set, recipe and device: the suite's own defaults first; a recipe change starts a series, never a step)."""
    mine = runs[(runs["label"] == label) & (runs["status"] == Status.OK.value) & runs["identity"].notna()
                & ~is_trial(runs)].copy()  # a tuning's trials have no test accuracy: they are no version
    if mine.empty:
        return []
    identities = [{k: v for k, v in i.items() if k != "seed"} for i in mine[PARSED["identity"]]]
    mine["version"] = [digest(i) for i in identities]
    mine["series_key"] = [digest(defining(i)) for i in identities]
    by_version = dict(zip(mine["version"], identities))
    mine["made"] = mine["finished_at"].fillna(mine["started_at"])
    on_defaults = (mine["on_suite_defaults"].fillna(False).astype(bool) if "on_suite_defaults" in mine
                   else pd.Series(False, index=mine.index))
    keys = list(dict.fromkeys(mine.sort_values("made")["series_key"]))
    flagged = [bool(on_defaults[mine["series_key"] == k].any()) for k in keys]
    order = sorted(range(len(keys)), key=lambda i: (not flagged[i], i))  # the suite's defaults first, then by age
    keys, flagged = [keys[i] for i in order], [flagged[i] for i in order]
    firsts = {k: by_version[mine.loc[mine["series_key"] == k, "version"].iloc[0]] for k in keys}
    names = dict(zip(keys, series_names([defining(firsts[k]) for k in keys], flagged)))
    out, before = [], None
    for version, rows in sorted(mine.groupby("version"), key=lambda item: item[1]["made"].min()):
        identity = by_version[version]
        key = rows["series_key"].iloc[0]
        mean, sd, _ = mean_sd(rows["test_acc"].astype(float) * BY_COLUMN["test_acc"].scale)
        out.append(Version(str(rows["made"].min())[:16].replace("T", " "),
                           ", ".join(sorted(set(rows["git_sha"].dropna()))) or "–",
                           code_digest(identity)[:12], len(rows),
                           f"{mean:.2f}" + (f" ± {sd:.2f}" if sd is not None else ""),
                           f"{rows['epoch_time_s'].astype(float).median():.2f}",
                           changes(before, identity) if before is not None else ["first run of this variant here"],
                           float(mean), float(rows["epoch_time_s"].astype(float).median()),
                           keys.index(key) + 1, names[key]))
        before = identity
    return out


def shas_in(runs: pd.DataFrame) -> list[str]:
    """The git shas a suite's ok runs were made at."""
    return sorted(set(runs.loc[runs["status"] == Status.OK.value, "git_sha"].dropna()))


def history_section(runs: pd.DataFrame, labels: list[str], folder, link: str, vectors: dict | None = None) -> str:
    """The HTML report's history view (asv's idea): when the suite's runs were made at several git shas, each variant's
    test accuracy and epoch time per identity, in time order, as a picture (hover: sha and what changed) and a table
    per variant. Empty when the runs hold one sha."""
    from . import plots

    shas = shas_in(runs)
    if len(shas) < 2:
        return ""
    found = {label: history(runs, label) for label in labels}
    found = {label: versions for label, versions in found.items() if versions}
    plots.history(found, folder / "history.png", vectors)
    parts = ["## History across commits",
             f"These results were made at {len(shas)} git shas ({plain(', '.join(shas))}). Each point is one "
             "identity a variant was run under (its code, the harness's, the data's bytes, the recipe, the libraries), "
             "oldest first; hover a point for its sha and what changed since the one before. A line joins only the "
             "points of one series (one data set, recipe and device): a recipe change starts another series (another marker), so a step "
             "between series is not a regression over commits. Series 1 is the suite's own defaults where the rows "
             "say so.",
             f"![Test accuracy and epoch time of each variant per identity, in time order]({link}/history.png)"]
    for label, versions in found.items():
        parts += [f"### {plain(label)}", history_table(versions)]
    return "\n\n".join(parts)
