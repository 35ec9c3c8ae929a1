"""Tuning, as the results folder holds it: which rows are trials, how a trial's identity relates to the runs it
stands for, and the one rule that picks a value from the trials (validation accuracy only).

A trial is a run of one point of a tuning grid (`bench run --tune lr=...`) that trains and validates like any
run, but never reads the test split and never times the latency: its row has `role` = "trial" and no test
accuracy. Its identity is the identity a normal run of its recipe would have, plus `"role": "trial"`, so a trial
is never mistaken for a run, and the normal runs of the chosen value are keyed (and skipped, and resumed) like
every run.
"""
from __future__ import annotations

import json
from enum import Enum
from typing import Any

import pandas as pd

from ..core.hashing import digest
from .identity import ENTRY_PARTS, PER_RUN_PARTS, experiment_hash

ROLE_PART = "role"  # the identity key that makes a trial's identity its own


class Role(str, Enum):
    """What a row is. The value is what the parquet `role` column holds (empty in rows made before tuning)."""

    RUN = "run"  # a normal run: trained, validated, tested once
    TRIAL = "trial"  # a tuning trial: trained and validated only

    def __str__(self) -> str:
        return self.value


def trial_identity(identity: dict[str, Any]) -> dict[str, Any]:
    """The identity of a trial of the run whose identity is `identity`."""
    return {**identity, ROLE_PART: Role.TRIAL.value}


def run_identity(identity: dict[str, Any]) -> dict[str, Any]:
    """The identity of the normal run a trial (or run) stands for."""
    return {k: v for k, v in identity.items() if k != ROLE_PART}


def run_experiment_hash(identity: dict[str, Any]) -> str:
    """The experiment the normal runs of a trial's recipe belong to (bench.store.identity.experiment_hash)."""
    return experiment_hash(run_identity(identity))


def tuning_hash(identity: dict[str, Any], keys: list[str]) -> str:
    """What the trials of one tuning share, whatever the variant, the seed and the tuned fields' values: the rest of
    the identity (data, the recipe's other fields, device, software, code), and which fields are tuned. Adding a
    value to the grid keeps it; changing anything else starts another tuning."""
    shared = {k: v for k, v in run_identity(identity).items() if k not in ENTRY_PARTS + PER_RUN_PARTS}
    shared["recipe"] = {k: v for k, v in shared.get("recipe", {}).items() if k not in keys}
    return digest({**shared, "tuned": sorted(keys)})


def is_trial(runs: pd.DataFrame) -> pd.Series:
    """True for each trial row; False for normal runs and for rows made before the `role` column."""
    if "role" not in runs:
        return pd.Series(False, index=runs.index)
    return runs["role"].astype(object).eq(Role.TRIAL.value).fillna(False).astype(bool)


def point_text(point: dict[str, Any]) -> str:
    """A grid point in words: `lr=0.1, weight_decay=0.0005`."""
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in point.items())


def point_of(recipe: dict[str, Any], keys: list[str]) -> tuple:
    """The tuned fields' values in a recipe, in `keys` order."""
    return tuple(recipe.get(k) for k in keys)


def trial_table(trials: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per variant (label) and grid point: the mean best validation accuracy over the point's finished trials (one
    value per trial seed), their count, and the training seconds they took."""
    rows = []
    for _, row in trials.iterrows():
        rows.append({"label": row["label"], "point": point_of(row["parsed_recipe"] or json.loads(row["recipe"]), keys),
                     "seed": row["seed"], "best_val_acc": row["best_val_acc"], "train_time_s": row["train_time_s"],
                     "num_threads": row["num_threads"], "device": row["device"]})
    frame = pd.DataFrame(rows, columns=["label", "point", "seed", "best_val_acc", "train_time_s", "num_threads",
                                        "device"])
    table = (frame.groupby(["label", "point"], sort=False)
             .agg(val_acc=("best_val_acc", "mean"), trials=("seed", "size"), train_time_s=("train_time_s", "sum"),
                  threads=("num_threads", "max"), device=("device", "first"))
             .reset_index())
    order = sorted(set(table["point"]), key=lambda p: tuple((v is None, v) for v in p))
    return table.assign(_at=table["point"].map(order.index)).sort_values(["_at"], kind="stable").drop(columns="_at")


def choose(table: pd.DataFrame) -> dict[str, tuple]:
    """Per variant, the grid point with the highest mean validation accuracy (of `trial_table`, points in ascending
    order); a tie goes to the smaller point. Test accuracy plays no part: trials have none."""
    chosen = {}
    for label, mine in table.groupby("label", sort=False):
        best = mine["val_acc"].astype(float).to_numpy().argmax()  # the first of equal maxima
        chosen[label] = mine["point"].iloc[best]
    return chosen
