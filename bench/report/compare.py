"""`bench compare`: two sets of runs (before and after a change: two folders, two commits, two machines), variant by
variant, each change marked better, worse, not significant or not comparable, with the evidence.

The rules (asv's, for timings; paired statistics for accuracy):
- experiments are matched by what defines them (data, recipe, device); any other difference there makes a pair not
  comparable, and says what differs. Code and library versions may differ: that is what one compares.
- test accuracy: Δ in percentage points with a 95% interval over seeds (paired t over the seeds both sides ran,
  else Welch), and the per-image McNemar test on the shared test images, stratified by seed. Marked by the interval
  when there is one, else by the per-image test (p < 0.05).
- epoch time and images/s: changed only when the ratio of medians passes the factor (default 1.1) **and** the
  per-epoch samples differ by a two-sided Mann–Whitney U test at p < 0.002; runs that shared their hardware
  (`contended`, `loaded`) are left out, and a side with none left is not comparable.
- forward latency: the factor, and the two sides' interquartile ranges (median ± IQR/2 over every run) apart.
- peak memory: the factor. MACs and params: exact counts, any difference is one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from .experiments import Experiment, experiments
from .judge import contended, loaded
from .tables import LATENCY_IQR
from .stats import LabelsDisagree, paired_difference, per_image

FACTOR = 1.1
RANK_P = 0.002  # asv's threshold for the Mann–Whitney U test
ACCURACY_P = 0.05
DEFINING = ("data.", "recipe.", "device.")  # what an experiment is; the rest (code, software) may change

BETTER, WORSE, NOT_SIGNIFICANT, NOT_COMPARABLE, SAME = "better", "worse", "not significant", "not comparable", "same"
SYMBOLS = {WORSE: "+", BETTER: "-", NOT_SIGNIFICANT: "~", NOT_COMPARABLE: "x", SAME: "="}  # asv's marks, and =


@dataclass(frozen=True)
class Measure:
    """One compared quantity: its `--fail-if` key, run column, shown name and scale, which way is better, and how a
    change is decided (accuracy, epochs: per-epoch samples, calls: latency IQRs, factor, exact)."""

    key: str
    column: str
    name: str
    scale: float
    digits: int
    lower_is_better: bool
    rule: str


MEASURES = [
    Measure("accuracy", "test_acc", "test acc (%)", 100, 2, False, "accuracy"),
    Measure("time", "epoch_time_s", "epoch time (s)", 1, 2, True, "epochs"),
    Measure("throughput", "images_per_s", "images/s", 1, 0, False, "epochs"),
    Measure("memory", "peak_mem_mb", "peak mem (MB)", 1, 0, True, "factor"),
    Measure("latency_b1", "latency_ms_b1", "latency b1 (ms)", 1, 2, True, "calls"),
    Measure("latency_bN", "latency_ms_bN", "latency bN (ms)", 1, 2, True, "calls"),
    Measure("macs", "macs", "GMACs", 1e-9, 3, True, "exact"),
    Measure("params", "params", "params (M)", 1e-6, 2, True, "exact"),
]
BY_KEY = {m.key: m for m in MEASURES}


@dataclass
class Change:
    """One measure of one variant, base against head."""

    experiment: str
    variant: str
    metric: str  # Measure.key
    name: str
    base: float | None
    head: float | None
    change: float | None  # accuracy: Δ in percentage points; otherwise the ratio head / base
    mark: str
    evidence: str  # the test behind the mark, or why there is none
    low: float | None = None  # accuracy: the 95% interval of Δ
    high: float | None = None
    p: float | None = None

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.mark]


@dataclass
class Pairing:
    """An experiment of head and its counterpart in base (None: none), with what keeps them apart."""

    title: str
    base: Experiment | None
    head: Experiment | None
    differs: list[str] = field(default_factory=list)  # "key: base → head" of the defining facts


def definition(exp: Experiment, ignore: frozenset[str] = frozenset()) -> dict[str, object]:
    """The facts that make `exp` the experiment it is, less `ignore` (the recipe fields a comparison sets apart on
    purpose, e.g. `recipe.batch_size` when comparing two batch sizes)."""
    return {k: v for k, v in exp.facts.items() if k.startswith(DEFINING) and k not in ignore}


def differences(base: Experiment, head: Experiment, ignore: frozenset[str] = frozenset()) -> list[str]:
    a, b = definition(base, ignore), definition(head, ignore)
    return [f"{k}: {a.get(k, '–')} → {b.get(k, '–')}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def title_parts(exp: Experiment) -> list[str]:
    f = exp.facts
    return [str(x) for x in (f.get("data.kind"), f"batch {f.get('recipe.batch_size', '?')}", f.get("device.kind"),
                             f.get("device.name")) if x]


def title_of(exp: Experiment) -> str:
    return ", ".join(title_parts(exp))


def joined_title(base: Experiment, head: Experiment) -> str:
    """A pairing's title: the experiment's, each part that differs written `before → after` (two recipes compared:
    `digits, batch 32 → 64, cpu`)."""
    before, after = title_parts(base), title_parts(head)
    if len(before) != len(after):
        return f"{', '.join(before)} → {', '.join(after)}"
    return ", ".join(a if a == b else f"{a} → {b.removeprefix('batch ') if a.startswith('batch ') else b}"
                     for a, b in zip(before, after))


def pair(base_runs: pd.DataFrame, head_runs: pd.DataFrame, ignore: frozenset[str] = frozenset()) -> list[Pairing]:
    """Head's experiments, each with the base experiment of the same definition (the facts in `ignore` aside);
    failing that, the closest one (fewest differing facts), marked with what differs; base experiments nobody
    matched come last."""
    bases, heads = experiments(base_runs) if len(base_runs) else [], experiments(head_runs) if len(head_runs) else []
    matched: dict[int, Experiment] = {}
    for head in heads:  # first every exact match, so that a near one never takes an exact one's partner
        same = [b for b in bases if not differences(b, head, ignore) and b not in matched.values()]
        if same:
            matched[id(head)] = same[0]
    pairs = []
    for head in heads:
        if id(head) in matched:
            pairs.append(Pairing(joined_title(matched[id(head)], head), matched[id(head)], head))
            continue
        free = [b for b in bases if b not in matched.values()]
        if free:
            closest = min(free, key=lambda b: len(differences(b, head, ignore)))
            matched[id(head)] = closest
            pairs.append(Pairing(joined_title(closest, head), closest, head, differences(closest, head, ignore)))
        else:
            pairs.append(Pairing(title_of(head), None, head))
    pairs += [Pairing(title_of(b), b, None) for b in bases if b not in matched.values()]
    return pairs


def timing_rows(exp: Experiment, label: str) -> pd.DataFrame:
    """The ok rows of `label` whose timings count: not shared with another run, not on a busy machine."""
    mine = exp.ok[exp.ok["label"] == label]
    return mine[~(contended(mine) | loaded(mine))]


def accuracy_change(title: str, label: str, base: pd.DataFrame, head: pd.DataFrame,
                    predictions: Callable[[list[str]], pd.DataFrame]) -> Change:
    from scipy import stats

    m = BY_KEY["accuracy"]
    b = base.set_index("seed")["test_acc"].astype(float).dropna() * 100
    h = head.set_index("seed")["test_acc"].astype(float).dropna() * 100
    change = Change(title, label, m.key, m.name, float(b.mean()), float(h.mean()), float(h.mean() - b.mean()),
                    NOT_SIGNIFICANT, "")
    evidence = []
    paired = paired_difference(h, b)
    if paired is not None and paired.low is not None:
        change.change, change.low, change.high = paired.mean, paired.low, paired.high
        evidence.append(f"95% CI [{paired.low:+.2f}, {paired.high:+.2f}] (paired t, {paired.n} seeds)")
    elif len(b) >= 2 and len(h) >= 2:
        interval = stats.ttest_ind(h.to_numpy(), b.to_numpy(), equal_var=False).confidence_interval(0.95)
        change.low, change.high = float(interval.low), float(interval.high)
        evidence.append(f"95% CI [{change.low:+.2f}, {change.high:+.2f}] (Welch, {len(b)} and {len(h)} seeds)")
    shared = per_image_test(base, head, predictions)
    if isinstance(shared, str):
        evidence.append(shared)
    elif shared is not None:
        change.p = shared.p_value
        evidence.append(f"McNemar p={shared.p_value:.3g} ({shared.images:,} test images × {shared.pairs} seed(s); "
                        f"{shared.only_variant} right only after, {shared.only_baseline} only before)")
    if change.low is not None:
        change.mark = WORSE if change.high < 0 else BETTER if change.low > 0 else NOT_SIGNIFICANT
    elif change.p is not None:
        change.mark = NOT_SIGNIFICANT if change.p >= ACCURACY_P else WORSE if change.change < 0 else BETTER
    else:
        change.mark = NOT_COMPARABLE
        evidence.append("single run on a side and no shared test images: nothing to test")
    change.evidence = "; ".join(evidence)
    return change


def per_image_test(base: pd.DataFrame, head: pd.DataFrame, predictions: Callable[[list[str]], pd.DataFrame]):
    """The stratified McNemar test of head against base on the test images both scored, per seed both ran."""
    preds = predictions(list(base["run_id"]) + list(head["run_id"]))
    if preds.empty:
        return None
    seeds = pd.concat([base[["run_id", "seed"]], head[["run_id", "seed"]]])
    preds = preds.merge(seeds, on="run_id")
    try:
        return per_image(preds[preds["run_id"].isin(head["run_id"])], preds[preds["run_id"].isin(base["run_id"])])
    except LabelsDisagree:
        return "no per-image test: the test labels differ (other test splits)"


def ratio_mark(ratio: float, measure: Measure, significant: bool, factor: float) -> str:
    if not (ratio >= factor or ratio <= 1 / factor) or not significant:
        return NOT_SIGNIFICANT
    slower = ratio > 1
    return WORSE if slower == measure.lower_is_better else BETTER


def timing_change(title: str, label: str, m: Measure, base: Experiment, head: Experiment, epochs: tuple,
                  factor: float) -> Change:
    from scipy.stats import mannwhitneyu

    rows = timing_rows(base, label), timing_rows(head, label)
    if any(r.empty for r in rows):
        side = "base" if rows[0].empty else "head"
        return Change(title, label, m.key, m.name, None, None, None, NOT_COMPARABLE,
                      f"every {side} run shared its hardware (contended or a busy machine)")
    samples = [e.loc[e["run_id"].isin(r["run_id"]), m.column].astype(float).dropna().to_numpy()
               for e, r in zip(epochs, rows)]
    if min(len(s) for s in samples) < 2:
        return Change(title, label, m.key, m.name, None, None, None, NOT_COMPARABLE, "fewer than 2 epochs on a side")
    b, h = (float(np.median(s)) for s in samples)
    ratio = h / b if b else math.inf
    p = float(mannwhitneyu(samples[1], samples[0], alternative="two-sided").pvalue)
    mark = ratio_mark(ratio, m, p < RANK_P, factor)
    return Change(title, label, m.key, m.name, b, h, ratio, mark,
                  f"Mann–Whitney p={p:.2g} over {len(samples[0])} and {len(samples[1])} epochs "
                  f"(changed past ×{factor:g} and p < {RANK_P:g})", p=p)


def latency_change(title: str, label: str, m: Measure, base: Experiment, head: Experiment, factor: float) -> Change:
    rows = timing_rows(base, label), timing_rows(head, label)
    if any(r.empty for r in rows):
        return Change(title, label, m.key, m.name, None, None, None, NOT_COMPARABLE,
                      "every run of a side shared its hardware")
    spans = []
    for r in rows:
        median = r[m.column].astype(float)
        iqr = r[LATENCY_IQR[m.column]].astype(float).fillna(0) if LATENCY_IQR[m.column] in r else median * 0
        spans.append((float((median - iqr / 2).min()), float(median.median()), float((median + iqr / 2).max())))
    (b_low, b, b_high), (h_low, h, h_high) = spans
    apart = h_low > b_high or h_high < b_low
    ratio = h / b if b else math.inf
    return Change(title, label, m.key, m.name, b, h, ratio, ratio_mark(ratio, m, apart, factor),
                  f"IQR {'apart' if apart else 'overlap'}: [{b_low:.2f}, {b_high:.2f}] → [{h_low:.2f}, {h_high:.2f}] ms")


def plain_change(title: str, label: str, m: Measure, base: pd.DataFrame, head: pd.DataFrame, factor: float) -> Change:
    b, h = float(base[m.column].astype(float).mean()), float(head[m.column].astype(float).mean())
    if math.isnan(b) or math.isnan(h):
        return Change(title, label, m.key, m.name, None, None, None, NOT_COMPARABLE, "not measured on a side")
    ratio = h / b if b else math.inf
    if m.rule == "exact":
        mark = SAME if h == b else (WORSE if (h > b) == m.lower_is_better else BETTER)
        return Change(title, label, m.key, m.name, b * m.scale, h * m.scale, ratio, mark, "exact count")
    return Change(title, label, m.key, m.name, b * m.scale, h * m.scale, ratio, ratio_mark(ratio, m, True, factor),
                  f"changed past ×{factor:g}")


def compare_pairing(pairing: Pairing, epochs: tuple[pd.DataFrame, pd.DataFrame],
                    predictions: Callable[[list[str]], pd.DataFrame], factor: float = FACTOR) -> list[Change]:
    """Every measure of every variant of one pairing."""
    base, head = pairing.base, pairing.head
    if base is None or head is None or pairing.differs:
        why = ("not in base" if base is None else "not in head" if head is None
               else "other " + "; ".join(pairing.differs))
        labels = (head or base).labels
        return [Change(pairing.title, label, "all", "every measure", None, None, None, NOT_COMPARABLE, why)
                for label in labels]
    changes = []
    for label in head.labels + [l for l in base.labels if l not in head.labels]:
        b_ok, h_ok = base.ok[base.ok["label"] == label], head.ok[head.ok["label"] == label]
        if b_ok.empty or h_ok.empty:
            changes.append(Change(pairing.title, label, "all", "every measure", None, None, None, NOT_COMPARABLE,
                                  f"no ok run in {'base' if b_ok.empty else 'head'}"))
            continue
        for m in MEASURES:
            if m.rule == "accuracy":
                changes.append(accuracy_change(pairing.title, label, b_ok, h_ok, predictions))
            elif m.rule == "epochs":
                changes.append(timing_change(pairing.title, label, m, base, head, epochs, factor))
            elif m.rule == "calls":
                changes.append(latency_change(pairing.title, label, m, base, head, factor))
            else:
                changes.append(plain_change(pairing.title, label, m, b_ok, h_ok, factor))
    return changes
