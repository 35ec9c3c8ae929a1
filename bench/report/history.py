"""Every identity a variant was run under in one results folder, side by side in time order, with what changed from
one to the next (`bench compare R --history VARIANT`): rows of older code or data stay readable."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from ..core.hashing import digest
from ..store.identity import changes
from ..store.status import Status
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


def history(runs: pd.DataFrame, label: str) -> list[Version]:
    """Every identity (seed aside) under which `label` has ok runs, oldest first, each with what changed since the
    one before: the variant's code, the harness's, the data's bytes, the recipe, the libraries."""
    mine = runs[(runs["label"] == label) & (runs["status"] == Status.OK.value) & runs["identity"].notna()].copy()
    if mine.empty:
        return []
    identities = [{k: v for k, v in json.loads(i).items() if k != "seed"} for i in mine["identity"]]
    mine["version"] = [digest(i) for i in identities]
    by_version = dict(zip(mine["version"], identities))
    mine["made"] = mine["finished_at"].fillna(mine["started_at"])
    out, before = [], None
    for version, rows in sorted(mine.groupby("version"), key=lambda item: item[1]["made"].min()):
        identity = by_version[version]
        mean, sd, _ = mean_sd(rows["test_acc"].astype(float) * 100)
        out.append(Version(str(rows["made"].min())[:16].replace("T", " "),
                           ", ".join(sorted(set(rows["git_sha"].dropna()))) or "–",
                           digest(identity.get("code", {}))[:12], len(rows),
                           f"{mean:.2f}" + (f" ± {sd:.2f}" if sd is not None else ""),
                           f"{rows['epoch_time_s'].astype(float).median():.2f}",
                           changes(before, identity) if before is not None else ["first run of this variant here"]))
        before = identity
    return out
