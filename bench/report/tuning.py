"""The report's Tuning section: per tuning (the trials that share a `tuning_hash`), each variant's validation accuracy
at every tried value with the chosen one marked (a table and a sensitivity plot), the budget each variant had, and
the comparison of the variants at their chosen values beside the comparison under the shared recipe.

What a trial is and the rule that chooses are bench.store.tuning's: the report applies the same rule to the trials
in the folder, so it says what `bench run --tune` chose."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..store.metrics import BY_COLUMN
from ..store.status import Status
from ..store.tuning import choose, is_trial, point_text, trial_table
from ..core.hashing import slug
from .experiments import Experiment, current_rows, fill_keys
from .judge import against_baseline
from .markdown import facts_table, markdown_table, plain
from .tables import comparison
from .verdicts import INCONCLUSIVE, verdict


@dataclass
class Tuning:
    """The trials of one tuning, as the report reads them."""

    key: str  # the tuning_hash
    keys: list[str]  # the tuned recipe fields
    space: dict[str, list]  # every value tried, per field
    base: dict  # the shared recipe's values of the tuned fields
    seeds: int  # trial seeds per grid point
    trials: pd.DataFrame  # the current row of every trial (ok or not)
    table: pd.DataFrame  # bench.store.tuning.trial_table of the ok trials
    chosen: dict[str, tuple]  # label → chosen point
    labels: list[str]  # suite order


def tunings(runs: pd.DataFrame) -> list[Tuning]:
    """The tunings of a suite's rows, newest first; [] when no row is a trial."""
    trials = runs[is_trial(runs)]
    if trials.empty:
        return []
    current = current_rows(fill_keys(trials))
    found = []
    for key in dict.fromkeys(current["tuning_hash"].dropna()):
        mine = current[current["tuning_hash"] == key]
        newest = mine.iloc[0]
        described = json.loads(newest["tuning"])
        keys = list(described["space"])
        ok = mine[mine["status"] == Status.OK.value]
        table = trial_table(ok, keys)
        points = sorted(set(table["point"]), key=lambda p: tuple((v is None, v) for v in p))
        space = {k: list(dict.fromkeys(p[i] for p in points)) for i, k in enumerate(keys)}
        suite_labels = list(newest["suite_labels"]) if len(newest["suite_labels"]) else []
        present = list(dict.fromkeys(mine.sort_values("seed")["label"]))
        labels = [label for label in dict.fromkeys(suite_labels + present) if label in present]
        found.append(Tuning(key, keys, space, described["base"], int(described["seeds"]), mine, table,
                            choose(table), labels))
    return found


def chosen_runs(tuning: Tuning, normal: pd.DataFrame) -> pd.DataFrame:
    """The current normal rows of each variant at its chosen values (the experiment its chosen trials stand for)."""
    picked = []
    for label, point in tuning.chosen.items():
        trials = tuning.trials[(tuning.trials["label"] == label)]
        experiment = trials.loc[[tuple(p.get(k) for k in tuning.keys) == point for p in trials["parsed_recipe"]],
                                "tuned_experiment_hash"]
        if experiment.empty:
            continue
        picked.append(normal[(normal["experiment_hash"] == experiment.iloc[0]) & (normal["label"] == label)])
    return pd.concat(picked) if picked else normal.iloc[:0]


def as_experiment(key: str, rows: pd.DataFrame, labels: list[str]) -> Experiment:
    """Rows of several experiments (each variant's chosen recipe) compared as one: the comparison table's input."""
    present = [label for label in labels if label in set(rows["label"])]
    return Experiment(key, rows, 0, present, True, "", {})


def compute_text(rows: pd.DataFrame) -> tuple[float, str]:
    """The trials' compute: wall seconds from start to end, times the threads on a CPU (CPU·s) or one GPU (GPU·s)."""
    wall = (pd.to_datetime(rows["finished_at"]) - pd.to_datetime(rows["started_at"])).dt.total_seconds()
    cpu = rows["device"].astype(str).str.startswith("cpu")
    seconds = float((wall * rows["num_threads"].astype(float).where(cpu, 1.0)).sum())
    return seconds, ("CPU·s" if cpu.all() else "GPU·s" if not cpu.any() else "device·s")


def winners(exp: Experiment) -> list[str]:
    """The variants with the highest mean test accuracy (several when tied)."""
    means = exp.ok.groupby("label")["test_acc"].mean()
    return sorted(means[means == means.max()].index) if not means.empty else []


def verdict_words(exp: Experiment) -> dict[str, str]:
    """Each variant's test-accuracy verdict against the baseline (better, worse, inconclusive)."""
    tests, _ = against_baseline(exp)
    return {label: verdict(t["test_acc"], lower_is_better=False) for label, t in tests.items() if "test_acc" in t}


def tuned_vs_shared(tuning: Tuning, runs: pd.DataFrame, shared: Experiment | None) -> list[str]:
    """The comparison at the chosen values beside the shared recipe's, and what changed between them."""
    normal = current_rows(fill_keys(runs[~is_trial(runs)]))
    rows = chosen_runs(tuning, normal)
    base_text = plain(point_text(tuning.base))
    parts = []
    if rows.empty or (rows["status"] == Status.OK.value).sum() == 0:
        parts.append("### Tuned\n\nNo run at the chosen values has finished yet: the same `bench run --tune` command "
                     "runs them (with the suite's seeds) once the trials are done.")
        tuned = None
    else:
        tuned = as_experiment(f"tuned-{tuning.key}", rows, tuning.labels)
        picks = "; ".join(f"{plain(label)} {plain(point_text(dict(zip(tuning.keys, tuning.chosen[label]))))}"
                          for label in tuned.labels)
        parts.append(f"### Tuned: each variant at its chosen values\n\n{picks}. Baseline: **{plain(tuned.baseline)}**."
                     f"\n\n{comparison(tuned)}")
    if shared is None or shared.ok.empty:
        parts.append(f"### Shared recipe ({base_text} for every variant)\n\nNo run of the shared recipe is in this "
                     "folder: `bench run` with the same suite and flags, without --tune, adds it.")
    else:
        parts.append(f"### Shared recipe: {base_text} for every variant\n\nBaseline: **{plain(shared.baseline)}**."
                     f"\n\n{comparison(shared)}")
    if tuned is not None and shared is not None and not shared.ok.empty:
        parts.append("### What tuning changed\n\n" + changes_text(tuned, shared))
    return parts


def changes_text(tuned: Experiment, shared: Experiment) -> str:
    """In words: whether the most accurate variant and the verdicts against the baseline changed with tuning."""
    before, after = winners(shared), winners(tuned)
    missing = [label for label in tuned.labels if label not in set(shared.ok["label"])]
    if missing:
        return (f"The shared recipe has no finished run of {plain(', '.join(missing))}: the winners and verdicts are "
                "not set side by side until it has (`bench run` without --tune adds them).")
    if before == after:
        lines = [f"The most accurate variant (mean test accuracy) is **{plain(', '.join(after))}** under both."]
    else:
        lines = [f"**The winner changes**: {plain(', '.join(before))} is the most accurate under the shared recipe, "
                 f"{plain(', '.join(after))} when each variant is tuned."]
    old, new = verdict_words(shared), verdict_words(tuned)
    moved = [f"{plain(label)}: {old.get(label, '–')} → {new.get(label, '–')}" for label in tuned.labels[1:]
             if old.get(label) != new.get(label)]
    same_baseline = tuned.baseline == shared.baseline
    if not same_baseline:
        lines.append(f"The baselines differ ({plain(shared.baseline)} and {plain(tuned.baseline)}): verdicts are not "
                     "set side by side.")
    elif moved:
        lines.append(f"Test-accuracy verdicts against {plain(tuned.baseline)} that changed: " + "; ".join(moved) + ".")
    else:
        kept = ", ".join(sorted(set(new.values()))) or INCONCLUSIVE
        lines.append(f"No test-accuracy verdict against {plain(tuned.baseline)} changed ({kept}).")
    return " ".join(lines)


def trials_table(tuning: Tuning) -> str:
    """Per variant: validation accuracy at every tried point (the chosen one bold), its trials and their compute."""
    points = sorted(set(tuning.table["point"]), key=lambda p: tuple((v is None, v) for v in p))
    headers = ["variant"] + [f"{plain(point_text(dict(zip(tuning.keys, p))))} (val %)" for p in points] + \
        ["chosen", "trials (ok/planned)", "trial compute"]
    acc = BY_COLUMN["best_val_acc"]
    rows = []
    for label in tuning.labels:
        mine = tuning.table[tuning.table["label"] == label].set_index("point")
        cells = []
        for p in points:
            if p not in mine.index:
                cells.append("–")
                continue
            cell = acc.display(float(mine.at[p, "val_acc"]))
            cells.append(f"**{cell}**" if tuning.chosen.get(label) == p else cell)
        everything = tuning.trials[tuning.trials["label"] == label]
        ok = int((everything["status"] == Status.OK.value).sum())
        seconds, unit = compute_text(everything)
        pick = plain(point_text(dict(zip(tuning.keys, tuning.chosen[label])))) if label in tuning.chosen else "–"
        rows.append([plain(label)] + cells + [pick, f"{ok}/{len(points) * tuning.seeds}", f"{seconds:,.0f} {unit}"])
    return markdown_table(headers, rows)


def budget_text(tuning: Tuning) -> str:
    """The budget each variant had, and a warning when it was not the same for all."""
    counts = {label: int((tuning.trials["label"] == label).sum()) for label in tuning.labels}
    ok = {label: int(((tuning.trials["label"] == label) & (tuning.trials["status"] == Status.OK.value)).sum())
          for label in tuning.labels}
    total, unit = compute_text(tuning.trials)
    grid = len(set(tuning.table["point"])) if not tuning.table.empty else 0
    if len(set(counts.values())) == 1 and len(set(ok.values())) == 1:
        text = (f"Every variant had the same budget: {next(iter(ok.values()))} finished trials ({grid} grid points × "
                f"{tuning.seeds} seed{'s' if tuning.seeds > 1 else ''}), so none is favoured by more tries.")
    else:
        text = ("⚠ **Unequal budgets**: " + "; ".join(f"{plain(label)} {ok[label]} finished of {counts[label]}"
                                                     for label in tuning.labels)
                + ". A variant with more tries is favoured; run the same command again to finish the missing trials.")
    return text + f" All trials together: {total:,.0f} {unit}."


def tuning_section(suite: str, tuning: Tuning, runs: pd.DataFrame, shared: Experiment | None, out: Path,
                   vectors: dict | None = None) -> str:
    """One tuning: what was tried and how chosen, the trials table and sensitivity plot, tuned against shared."""
    from . import plots
    from .sections import short_name

    space = "; ".join(f"{k}: {', '.join(f'{v:g}' if isinstance(v, float) else str(v) for v in vs)}"
                      for k, vs in tuning.space.items())
    seeds = ", ".join(str(s) for s in range(tuning.seeds))
    facts = [("tuned", plain(space)), ("shared recipe", plain(point_text(tuning.base))),
             ("trial seeds", f"{seeds} (each grid point and variant)"),
             ("chosen by", "the highest mean best validation accuracy over the trial seeds (a tie: the smaller value)"),
             ("test split", "never read by a trial: trials have no test pass (their rows' test_acc is empty); the "
                            "chosen values run with the suite's seeds and are tested once"),
             ("tuning", f"`{slug(tuning.key)}` (trials equal in all but variant, seed and the tuned values)")]
    parts = [f"## {suite} — tuning of {plain(', '.join(tuning.keys))}", facts_table(facts), budget_text(tuning)]
    if tuning.table.empty:
        parts.append("No trial has finished yet.")
        return "\n\n".join(parts)
    link = f"{suite}/{short_name('tuning-' + '-'.join(tuning.keys))}-{slug(tuning.key)[:6]}"
    plots.sensitivity(tuning.table, tuning.keys, tuning.chosen, tuning.labels, out / link / "sensitivity.png", vectors)
    parts += [f"### Trials\n\nBest validation accuracy (%) at each value, mean over the trial seeds; **bold**: the "
              f"chosen value.\n\n{trials_table(tuning)}",
              "### Sensitivity\n\nValidation accuracy against each tuned value, one line per variant; the star marks "
              f"its choice.\n\n![Validation accuracy against {plain(', '.join(tuning.keys))}]({link}/sensitivity.png)"]
    parts += tuned_vs_shared(tuning, runs, shared)
    return "\n\n".join(parts)


def tuned_and_shared(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """For `bench compare --tuned`: the normal rows of the shared recipe, and each variant's rows at the values its
    newest tuning chose, made one experiment (its key: `tuned-<tuning>`); and the tuned fields, which the pairing
    ignores. Empty frames when the rows hold no tuning."""
    found = tunings(runs)
    if not found:
        return runs.iloc[:0], runs.iloc[:0], []
    tuning = found[0]
    normal = runs[~is_trial(runs)]
    shared_key = tuning.trials["shared_experiment_hash"].dropna()
    shared = normal[normal["experiment_hash"].isin(set(shared_key))]
    current = current_rows(fill_keys(normal))
    tuned = normal[normal["run_id"].isin(set(chosen_runs(tuning, current)["run_id"]))]
    return shared, tuned.assign(experiment_hash=f"tuned-{tuning.key}"), tuning.keys
