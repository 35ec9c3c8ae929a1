"""Which rows of a results folder count, and how they group: one experiment = rows equal in all but seed and entry.

Rules: per identity (`config_hash`) the newest `ok` row counts, else the newest row; within an experiment, a
label whose definition changed keeps only the rows of its newest definition. Every other row is set aside:
kept in the folder, counted in the report, never averaged.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..core.hashing import digest, flatten
from ..store.identity import ENTRY_PARTS, PER_RUN_PARTS, entry_hash
from ..store.shards import PARSED
from ..store.status import Status
from ..store.tuning import is_trial

DEFINING = ("data.", "recipe.", "device.")  # what an experiment is; code and software may change over time


@dataclass
class Experiment:
    """The current rows of one experiment, with what the report needs to present them."""

    key: str
    rows: pd.DataFrame  # one row per identity: ok rows and the failures that have no ok row
    set_aside: int  # older or superseded rows of this experiment left out
    labels: list[str]  # display order; labels[0] is the baseline
    baseline_from_suite: bool  # False when the rows carry no suite order (the first label found stands in)
    description: str
    facts: dict[str, object]  # the flattened shared identity (data, recipe, device, software)
    on_suite_defaults: bool | None = None  # run on the suite's own data set and recipe; None: rows predate the flag
    shown_as_default: bool = False  # first of several: the suite's defaults (or, for older rows, the oldest)
    judged: dict = field(default_factory=dict, repr=False, compare=False)  # judgements made once (bench.report.judge)

    @property
    def ok(self) -> pd.DataFrame:
        return self.rows[self.rows["status"] == Status.OK.value]

    @property
    def baseline(self) -> str:
        return self.labels[0]


def parsed_identity(row: pd.Series) -> dict:
    """The row's identity as parsed on reading (bench.store.shards.parsed); {} for rows that predate identities."""
    return row.get(PARSED["identity"]) or {}


def fill_keys(runs: pd.DataFrame) -> pd.DataFrame:
    """Experiment and entry keys for every row; rows written before identities existed get keys from their columns."""
    runs = runs.copy()
    legacy = ["dataset", "recipe", "device", "device_name", "torch_version", "torchvision_version"]
    fallback = runs[legacy].astype(object).where(runs[legacy].notna(), "None").astype(str).agg("|".join, axis=1).map(digest)
    runs["experiment_hash"] = runs["experiment_hash"].where(runs["experiment_hash"].notna(), fallback)
    identities = [parsed_identity(r) for _, r in runs.iterrows()]
    runs["entry_key"] = [entry_hash(i) if i else f"{v}|{w}" for i, v, w in zip(identities, runs["variant"], runs["weights"])]
    runs["newest_first"] = runs["finished_at"].fillna(runs["started_at"]).fillna("")
    return runs.sort_values(["newest_first", "run_id"], ascending=False)


def current_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """Per identity: the newest ok row, else the newest row (runs sorted newest first)."""
    ok_first = runs.assign(_not_ok=runs["status"] != Status.OK.value).sort_values(
        ["_not_ok", "newest_first", "run_id"], ascending=[True, False, False], kind="stable")
    current = ok_first.drop_duplicates("config_hash").drop(columns="_not_ok")
    # A label whose definition changed: only the rows of its newest definition count.
    newest_entry = current.drop_duplicates(["experiment_hash", "label"])[["experiment_hash", "label", "entry_key"]]
    current = current.merge(newest_entry, on=["experiment_hash", "label", "entry_key"])
    return current.sort_values(["newest_first", "run_id"], ascending=False)


def experiments(runs: pd.DataFrame) -> list[Experiment]:
    """The experiments of one suite's rows: the suite's own defaults first (rows that predate the flag: the oldest
    experiment stands in), then the rest newest first."""
    runs = fill_keys(runs[~is_trial(runs)])  # a tuning's trials are the Tuning section's (bench.report.tuning)
    current = current_rows(runs)
    found = []
    for key in dict.fromkeys(current["experiment_hash"]):  # newest first
        rows = current[current["experiment_hash"] == key]
        newest = rows.iloc[0]
        suite_labels = list(newest["suite_labels"]) if len(newest["suite_labels"]) else []
        present = list(dict.fromkeys(rows.sort_values(["seed", "newest_first"])["label"]))
        labels = list(dict.fromkeys(suite_labels + present))
        labels = [label for label in labels if label in present or label == (suite_labels or present)[0]]
        identity = parsed_identity(newest)
        shared = {k: v for k, v in identity.items() if k not in ENTRY_PARTS + PER_RUN_PARTS}
        facts = flatten(shared) if shared else {"data.kind": newest["dataset"], "device.kind": newest["device"]}
        defaults = rows["on_suite_defaults"] if "on_suite_defaults" in rows else pd.Series(dtype=object)
        found.append(Experiment(key, rows, int((runs["experiment_hash"] == key).sum()) - len(rows), labels,
                                bool(suite_labels), newest["suite_description"] or "", facts,
                                None if defaults.isna().all() else bool(defaults.fillna(False).astype(bool).any())))
    if len(found) > 1:
        flagged = [e for e in found if e.on_suite_defaults]
        default = flagged[0] if flagged else (found[-1] if all(e.on_suite_defaults is None for e in found) else None)
        if default is not None:
            default.shown_as_default = True
            found = [default] + [e for e in found if e is not default]
    return found


# Facts every title names, and how.
TITLE_FACTS = {"data.kind": "{}", "recipe.batch_size": "batch {}", "device.kind": "{}"}
# Facts a reader cannot read: hashes, loader internals, code digests. When only they tell two experiments apart,
# the titles say so in words (other data, other code) with when the runs were made.
HIDDEN = ("data.", "code.")


def hidden(key: str) -> bool:
    return key.startswith(HIDDEN) and key != "data.kind"


def titles(suite: str, found: list[Experiment]) -> list[str]:
    """Each experiment's title: data set, batch and device, plus what else tells it from the suite's other sections,
    in words (`digits, batch 8` beside `digits, batch 16`; `lr 0.1`; `torch 2.14.1`), never hashes or internals."""
    keys = set().union(*(e.facts for e in found)) if found else set()
    differs = {k for k in keys if len({json.dumps(e.facts.get(k), default=str) for e in found}) > 1}
    shown = sorted(k for k in differs if k not in TITLE_FACTS and not hidden(k))
    out = []
    for e in found:
        parts = [fmt.format(e.facts[k]) for k, fmt in TITLE_FACTS.items() if k in e.facts]
        if "data.path" in differs and e.facts.get("data.path") and parts:
            same_kind = [o for o in found if o.facts.get("data.kind") == e.facts.get("data.kind")]
            if len({o.facts.get("data.path") for o in same_kind}) > 1:  # the folder's name tells them apart
                parts[0] = f"{parts[0]} ({Path(str(e.facts['data.path'])).name})"
        parts += [f"{k.split('.', 1)[-1]} {e.facts.get(k, '–')}" for k in shown]
        out.append(", ".join(parts))
    for title in {t for t in out if out.count(t) > 1}:  # told apart only by what a reader cannot read
        for i, e in enumerate(found):
            if out[i] == title:
                family = "data" if any(k.startswith("data.") for k in differs if hidden(k)) else "code"
                newest = str(e.rows["finished_at"].dropna().max() or "?")[:19].replace("T", " ")
                shas = ", ".join(sorted(set(e.rows["git_sha"].dropna())))
                out[i] += f", {family} of the runs until {newest} UTC" + (f" (git {shas})" if family == "code" else "")
    alike = list(out)  # still alike (runs of the same second): numbered, newest first
    out = [f"{title} ({alike[:i].count(title) + 1} of {alike.count(title)})" if alike.count(title) > 1 else title
           for i, title in enumerate(alike)]
    return [f"{suite} — {title}" for title in out]
