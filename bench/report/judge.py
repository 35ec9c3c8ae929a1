"""The report's judgements, apart from how they are written: which variants stayed near chance or did not
plateau, what `--strict` fails on, when timings measure overhead rather than architectures, which runs shared
their hardware."""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from ..measure.convergence import JUDGEABLE_EPOCHS, MIN_EPOCHS_TO_JUDGE, MIN_WINDOW_EVALS, PLATEAU_GAIN, too_short
from ..store.metrics import OVERHEAD_FLAT_THROUGHPUT, OVERHEAD_GPU_UTIL_PCT, OVERHEAD_MACS_RATIO
from .experiments import Experiment
from .verdicts import Test, accuracy_test, control, ratio_test

ACCURACY_COLUMNS = ("test_acc", "best_val_acc")  # compared over seeds in points; every other column as a ratio
NOISE_MARK = "⚠"
UNCONVERGED_MARK = "†"  # a variant that did not plateau or stayed near chance
CONTENDED_MARK = "‡"  # a timing with runs that shared their device or cores with another run (bench.measure.isolation)


def once(judgement):
    """A judgement of an experiment made once, however many sections read it: kept on the Experiment."""
    @functools.wraps(judgement)
    def judged(exp: Experiment):
        if judgement.__name__ not in exp.judged:
            exp.judged[judgement.__name__] = judgement(exp)
        return exp.judged[judgement.__name__]
    return judged


def near_chance(chance: float) -> float:
    """The best validation accuracy under which a variant counts as not having learned: twice chance, but never
    more than halfway from chance to perfect (with two classes, twice chance would be 100%)."""
    return min(2 * chance, (1 + chance) / 2)


def true_where(rows: pd.DataFrame, column: str) -> pd.Series:
    """True for each row whose boolean `column` is true; False where it is empty or the rows predate it."""
    if column not in rows:
        return pd.Series(False, index=rows.index)
    return rows[column].astype("boolean").fillna(False).astype(bool)


def contended(rows: pd.DataFrame) -> pd.Series:
    """True for each row whose run shared its device or cores with another run of this harness."""
    return true_where(rows, "contended")


def loaded(rows: pd.DataFrame) -> pd.Series:
    """True for each row whose run trained while other processes kept the machine busy."""
    return true_where(rows, "loaded")


def remeasured(rows: pd.DataFrame) -> pd.Series:
    """True for each row whose forward latency `bench latency` timed again (its figures stand in for the run's)."""
    if "latency_remeasured_at" not in rows:
        return pd.Series(False, index=rows.index)
    return rows["latency_remeasured_at"].notna()


LATENCY_CELLS = ("latency_ms_b1", "latency_ms_bN")  # the report cells a re-timing replaces
REMEASURED_MARK = "↻"


def counted(exp: Experiment, label: str, timing: bool) -> pd.DataFrame:
    """The ok rows of `label` that a cell counts: every one for accuracy and cost; for a time or a throughput, those
    that did not share their hardware (all of them when every run of the experiment did). The comparison table and
    the Published section read exactly these."""
    ok = exp.ok
    mine = ok[ok["label"] == label]
    if not timing:
        return mine
    shared = contended(ok)
    return mine if bool(shared.all()) else mine[~shared[mine.index]]


@once
def too_short_to_judge(exp: Experiment) -> dict[str, str]:
    """Per variant with an ok run too short to judge its convergence (bench.measure.convergence.too_short, from
    the row's epochs_run: older rows that called two epochs a plateau are judged again), the epochs and seeds."""
    out = {}
    for label in exp.labels:
        mine = exp.ok[(exp.ok["label"] == label) & exp.ok["epochs_run"].notna()]
        short = mine[[too_short(int(e)) for e in mine["epochs_run"]]]
        if not short.empty:
            epochs = ", ".join(str(e) for e in sorted({int(e) for e in short["epochs_run"]}))
            out[label] = f"{epochs} epoch(s), seed(s) {', '.join(str(s) for s in sorted(short['seed']))}"
    return out


def too_short_note(short: dict[str, str]) -> str:
    return ("too short to judge: " + "; ".join(f"{label} ran {what}" for label, what in short.items())
            + f". A plateau is judged over the last third of a run's epochs, which needs at least "
            f"{MIN_EPOCHS_TO_JUDGE} epochs and {MIN_WINDOW_EVALS} evaluations in that third ({JUDGEABLE_EPOCHS} epochs "
            f"or more): these rankings may change with training; train longer (--epochs {JUDGEABLE_EPOCHS} or more) "
            "before trusting them.")


def flagged(exp: Experiment) -> dict[str, str]:
    """Variants whose numbers rank nothing yet, each with why in a few words: no `ok` run, stayed near chance, or
    did not plateau (convergence_problems says it in full)."""
    problems = convergence_problems(exp)
    out = {}
    for label in exp.labels:
        if exp.ok[exp.ok["label"] == label].empty:
            out[label] = "no `ok` run"
        elif label in problems:
            out[label] = "stayed near chance" if "near chance" in problems[label] else "did not plateau"
    return out


@once
def convergence_problems(exp: Experiment) -> dict[str, str]:
    """Per variant that stayed near chance or did not plateau, one sentence on why its ranking means nothing yet."""
    problems = {}
    short = too_short_to_judge(exp)
    for label in exp.labels:
        mine = exp.ok[exp.ok["label"] == label]
        if mine.empty or mine["num_classes"].isna().all() or label in short:
            continue
        chance = 1 / float(mine["num_classes"].iloc[0])
        threshold = near_chance(chance)
        best = float(mine["best_val_acc"].astype(float).mean())
        rising = sorted(int(s) for s, p in zip(mine["seed"], mine["plateaued"]) if p is False or p is np.False_)
        if best < threshold:
            problems[label] = (f"best validation accuracy {best:.1%} stayed near chance ({chance:.1%}; under "
                               f"{threshold:.1%}): it has not learned, so its ranking means nothing; train longer "
                               "(--epochs) or change the recipe.")
        elif rising:  # more than the gain under any rule a row was judged by (the standard error only widens it)
            problems[label] = (f"did not plateau (its best validation accuracy still rose more than "
                               f"{PLATEAU_GAIN * 100:g} percentage point over the last third of the epochs, seed(s) "
                               f"{', '.join(map(str, rising))}): its ranking is not meaningful yet; train longer "
                               "(--epochs) or raise the learning rate.")
    return problems


def shortfalls(exp: Experiment) -> list[str]:
    """What `bench report --strict` fails on, one sentence each: a variant that did not plateau or stayed near
    chance, and an entry under the test accuracy its suite promises on its own defaults (or with no ok run)."""
    out = [f"{label}: {why}" for label, why in convergence_problems(exp).items()]
    out += [f"{label}: too short to judge whether it converged ({what}); train {JUDGEABLE_EPOCHS} epochs or more"
            for label, what in too_short_to_judge(exp).items()]
    for label in exp.labels:
        promised = exp.rows.loc[exp.rows["label"] == label, "min_test_acc"].dropna()
        if promised.empty:
            continue
        floor = float(promised.max())
        mine = exp.ok[exp.ok["label"] == label]
        if mine.empty:
            out.append(f"{label}: no ok run, but its suite promises at least {floor:.0%} test accuracy")
        for _, run in mine[mine["test_acc"].astype(float) < floor].iterrows():
            out.append(f"{label}: test accuracy {float(run['test_acc']):.1%} (seed {run['seed']}) is under the "
                       f"{floor:.0%} its suite promises on its own data set and recipe")
    return out


def overhead_warning(ok: pd.DataFrame, labels: list[str]) -> str:
    """A warning when the timings compare overhead rather than architectures (see bench.metrics), naming the fix."""
    per = pd.DataFrame({label: {"macs": ok.loc[ok["label"] == label, "macs"].astype(float).mean(),
                                "images_per_s": ok.loc[ok["label"] == label, "images_per_s"].astype(float).mean(),
                                "gpu_util_pct": ok.loc[ok["label"] == label, "gpu_util_pct"].astype(float).mean()}
                        for label in labels}).T.dropna(subset=["macs", "images_per_s"])
    reasons = []
    idle = per[per["gpu_util_pct"] < OVERHEAD_GPU_UTIL_PCT]
    if not idle.empty:
        reasons.append("the GPU was busy only " + ", ".join(f"{u:.0f}% ({label})" for label, u
                                                             in idle["gpu_util_pct"].items())
                       + f" of the training time (under {OVERHEAD_GPU_UTIL_PCT}%)")
    flat = [(a, b) for a in per.index for b in per.index
            if per.loc[b, "macs"] >= OVERHEAD_MACS_RATIO * per.loc[a, "macs"] > 0
            and abs(per.loc[a, "images_per_s"] / per.loc[b, "images_per_s"] - 1) <= OVERHEAD_FLAT_THROUGHPUT]
    if flat:
        a, b = flat[0]
        reasons.append(f"images/s stay within {OVERHEAD_FLAT_THROUGHPUT:.0%} ({per.loc[a, 'images_per_s']:.0f} vs "
                       f"{per.loc[b, 'images_per_s']:.0f}) although {b} costs "
                       f"{per.loc[b, 'macs'] / per.loc[a, 'macs']:.1f}× the MACs of {a}")
    if not reasons:
        return ""
    return (f"{NOISE_MARK} **Overhead-bound:** {'; and '.join(reasons)}. Epoch time and images/s here measure Python "
            "and kernel-launch overhead more than the architectures. Fix: a larger batch (`--batch-size`), or on a "
            "GPU `--compile reduce-overhead` (CUDA graphs).")


def seed_values(exp: Experiment, label: str, column: str, scale: float = 1.0, timing: bool = False) -> dict[int, float]:
    """One value per run of `label` (seed → value, in the shown unit): the rows `counted` counts."""
    rows = counted(exp, label, timing)
    rows = rows[rows[column].notna()]
    return {int(s): float(v) * scale for s, v in zip(rows["seed"], rows[column].astype(float))}


def versus(exp: Experiment, head: str, base: str, column: str) -> Test | None:
    """`head` against `base` on one run column, one value per run (bench.report.verdicts): accuracy columns over
    seeds in percentage points, any other as a ratio. None where a side has no value."""
    timing = column not in ACCURACY_COLUMNS
    scale = 100 if not timing else 1
    h, b = (seed_values(exp, label, column, scale, timing) for label in (head, base))
    if not h or not b:
        return None
    if not timing:
        images = exp.ok["test_images"].dropna() if "test_images" in exp.ok else []
        return accuracy_test(b, h, int(min(images)) if len(images) else None)
    return ratio_test(list(b.values()), list(h.values()))


@once
def against_baseline(exp: Experiment) -> tuple[dict[str, dict[str, Test]], int]:
    """Every variant against the baseline on test accuracy and epoch time: the comparison table's verdicts, one family
    per experiment (Benjamini–Hochberg over every test made); returns them by label and column, and the family's
    size."""
    found: dict[str, dict[str, Test]] = {}
    for label in exp.labels[1:]:
        found[label] = {c: t for c in ("test_acc", "epoch_time_s") if (t := versus(exp, label, exp.baseline, c))}
    return found, control([t for tests in found.values() for t in tests.values()])
