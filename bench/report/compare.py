"""`bench compare`: two sets of runs (before and after a change: two folders, two commits, two machines), variant by
variant, each change marked better, worse, inconclusive or not comparable, with the evidence.

The rules are bench.report.verdicts' (one number per independent run, the family of tests controlled):
- experiments are matched by what defines them (data, recipe, device); any other difference there makes a pair not
  comparable, and says what differs. Code and library versions may differ: that is what one compares.
- test accuracy: Δ in percentage points over seeds (paired by seed where both ran two or more in common, else
  Welch), with its 95% interval and P(head > base); one seed a side is inconclusive. The per-image McNemar test on the
  shared test images is shown as evidence about the two sets of trained models, and decides nothing.
- epoch time (and images/s, the same test), peak memory: the ratio of medians over runs, changed only past the
  factor (default 1.1) **and** significant by Welch's t on the log per-run values; runs that shared their hardware
  (`contended`, `loaded`) are left out, and a side with none left is not comparable.
- forward latency: the same on the runs' latency figures (each the median of its measuring processes); with fewer
  than three runs a side, on the per-process medians (one run's processes are timed back to back: they are
  independent only on a quiet machine, which `bench latency` is for).
- a time or latency whose two sides ran on a machine at other speeds (their speed probes, past MACHINE_DRIFT) is
  inconclusive, whatever its runs say.
- MACs and params: exact counts, any difference is one (no test).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from ..store.metrics import ACCURACY, BY_KEY, COMPARED, PROCESSES, RUNS, Metric
from ..store.speed import MEMORY_FORMATS
from .experiments import DEFINING, Experiment, experiments
from .judge import contended, loaded, remeasured
from .stats import LabelsDisagree, per_image
from .verdicts import (BETTER, FACTOR, INCONCLUSIVE, MIN_RUNS, NOT_COMPARABLE, SAME, SYMBOLS, WORSE, Test,
                       accuracy_test, control, describe, drift_text, machine_drift, moved, ratio_test, same_text,
                       verdict)


MEASURES = COMPARED  # the catalogue's compared columns (bench.store.metrics), each with its rule and --fail-if key


@dataclass
class Change:
    """One measure of one variant, base against head."""

    experiment: str
    variant: str
    metric: str  # the catalogue's key of the measure (Metric.key)
    name: str
    base: float | None
    head: float | None
    change: float | None  # accuracy: Δ in percentage points; otherwise the ratio head / base
    mark: str
    evidence: str  # the test behind the mark, or why there is none
    low: float | None = None  # the 95% interval of the change (of Δ, or of the ratio)
    high: float | None = None
    p: float | None = None  # the test's own p-value
    p_adjusted: float | None = None  # adjusted with the rest of the comparison's family (Benjamini–Hochberg)
    p_within: float | None = None  # two one-sided t-tests: the change lies within the margin (±1 pp, the factor) ...
    p_within_adjusted: float | None = None  # ... adjusted with the other equivalence tests, a family of their own
    runs: tuple[int, int] | None = None  # values a side that the test read (runs; processes for latency)
    needed: int | None = None  # runs a side that would detect the change, when this many do not
    p_better: float | None = None  # accuracy: P(head > base) over seeds, with its bootstrap interval
    p_better_low: float | None = None
    p_better_high: float | None = None
    also: str = ""  # evidence that decides nothing (accuracy: the per-image McNemar test)
    test: Test | None = field(default=None, repr=False, compare=False)  # shared by measures of one test

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


def timing_rows(exp: Experiment, label: str, latency: bool = False) -> pd.DataFrame:
    """The ok rows of `label` whose timings count: not shared with another run, not on a busy machine; for a
    latency, also those whose model `bench latency` timed again (on a machine chosen to be quiet)."""
    mine = exp.ok[exp.ok["label"] == label]
    quiet = ~(contended(mine) | loaded(mine))
    return mine[quiet | remeasured(mine)] if latency else mine[quiet]


def accuracy_change(title: str, label: str, base: pd.DataFrame, head: pd.DataFrame,
                    predictions: Callable[[list[str]], pd.DataFrame]) -> Change:
    m = BY_KEY["accuracy"]
    b = (base.set_index("seed")[m.column].astype(float).dropna() * m.scale).to_dict()
    h = (head.set_index("seed")[m.column].astype(float).dropna() * m.scale).to_dict()
    images = pd.concat([base, head])["test_images"].dropna() if "test_images" in base else pd.Series(dtype=float)
    test = accuracy_test(b, h, int(images.min()) if len(images) else None)
    change = Change(title, label, m.key, m.label, float(np.mean(list(b.values()))), float(np.mean(list(h.values()))),
                    test.estimate, INCONCLUSIVE, "", test=test)
    shared = per_image_test(base, head, predictions)
    if isinstance(shared, str):
        change.also = shared
    elif shared is not None:
        change.also = (f"about these trained models only, McNemar p={shared.p_value:.3g} ({shared.images:,} test "
                       f"images × {shared.pairs} seed(s); {shared.only_variant} right only after, "
                       f"{shared.only_baseline} only before)")
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


PER_PROCESS = "{}_per_process"  # the run column holding a latency's per-process medians


def per_process(rows: pd.DataFrame, column: str) -> list[float]:
    """A latency's independent values on one side: every measuring process's median, of every run; rows made before
    latency was measured in separate processes count as one process each (the run's own)."""
    values: list[float] = []
    listed = PER_PROCESS.format(column)
    for _, r in rows.iterrows():
        own = r.get(listed)
        if own is not None and not (isinstance(own, float) and math.isnan(own)) and len(own):
            values += [float(v) for v in own]
        elif pd.notna(r.get(column)):
            values.append(float(r[column]))
    return values


def ratio_change(title: str, label: str, m: Metric, base: Experiment, head: Experiment) -> Change:
    """A time, throughput, memory or latency: the ratio of medians over independent values, and its test."""
    rows = timing_rows(base, label, m.rule == PROCESSES), timing_rows(head, label, m.rule == PROCESSES)
    if any(r.empty for r in rows):
        side = "base" if rows[0].empty else "head"
        return Change(title, label, m.key, m.label, None, None, None, NOT_COMPARABLE,
                      f"every {side} run shared its hardware (contended or a busy machine)")
    if m.rule == PROCESSES and min(len(r) for r in rows) < MIN_RUNS:
        values = [per_process(r, m.column) for r in rows]  # too few runs: their processes, a quiet machine assumed
        unit = ("process", "processes")
    else:  # the processes of one run are timed back to back and share its moment: the run is the unit
        values = [r[m.column].astype(float).dropna().tolist() for r in rows]
        unit = ("run", "runs")
    if any(not v for v in values):
        return Change(title, label, m.key, m.label, None, None, None, NOT_COMPARABLE, "not measured on a side")
    kinds = [sorted(set(r[m.kind].dropna())) if m.kind in r else [] for r in rows] if m.kind else []
    if kinds and kinds[0] != kinds[1]:  # e.g. a process's whole resident set against the training's own
        return Change(title, label, m.key, m.label, None, None, None, NOT_COMPARABLE,
                      f"other {m.kind}: base {'/'.join(kinds[0]) or '?'}, head {'/'.join(kinds[1]) or '?'}")
    b, h = (float(np.median(v)) * m.scale for v in values)
    formats = [sorted({bool(v) for v in r["channels_last"].dropna()}) if "channels_last" in r else [] for r in rows]
    if m.timing and all(formats) and formats[0] != formats[1]:  # the probe chose differently for the two sides
        return Change(title, label, m.key, m.label, b, h, h / b, INCONCLUSIVE, formats_text(*formats))
    drift = machine_drift(*[r[m.machine].astype(float).dropna().tolist() if m.machine in r else [] for r in rows]
                          ) if m.machine else None
    if drift is not None:
        return Change(title, label, m.key, m.label, b, h, h / b, INCONCLUSIVE, drift_text(drift))
    test = ratio_test(*values, unit=unit)
    change = Change(title, label, m.key, m.label, b, h, test.estimate, INCONCLUSIVE, "", test=test)
    again = [side for side, r in zip(("base", "head"), rows) if m.rule == PROCESSES and remeasured(r).any()]
    if again:
        change.also = f"{' and '.join(again)} timed again by `bench latency`"
    return change


def formats_text(base: list[bool], head: list[bool]) -> str:
    def named(found: list[bool]) -> str:
        return " and ".join(MEMORY_FORMATS[cl] for cl in found)

    return (f"not decided: base trained in {named(base)}, head in {named(head)} (the memory format each side's "
            "probe chose as fastest); give both --channels-last or --no-channels-last to time one format")


def inverse_change(of: Change, m: Metric, base: Experiment, head: Experiment) -> Change:
    """A measure read from another's test (images/s from epoch time): its own medians, the same test and mark."""
    rows = timing_rows(base, of.variant), timing_rows(head, of.variant)
    b, h = (float(r[m.column].astype(float).median()) * m.scale if not r.empty else None for r in rows)
    return Change(of.experiment, of.variant, m.key, m.label, b, h, (h / b) if b and h else None, of.mark, of.evidence,
                  test=of.test)


def exact_change(title: str, label: str, m: Metric, base: pd.DataFrame, head: pd.DataFrame) -> Change:
    b, h = float(base[m.column].astype(float).mean()), float(head[m.column].astype(float).mean())
    if math.isnan(b) or math.isnan(h):
        return Change(title, label, m.key, m.label, None, None, None, NOT_COMPARABLE, "not measured on a side")
    ratio = h / b if b else math.inf
    mark = SAME if h == b else (WORSE if (h > b) == m.lower_is_better else BETTER)
    return Change(title, label, m.key, m.label, b * m.scale, h * m.scale, ratio, mark, "exact count")


def decide(changes: list[Change], factor: float = FACTOR) -> int:
    """Mark every tested change once its family is known: the tests of all `changes` adjusted together
    (bench.report.verdicts.control); returns the number of tests made. A ratio counts only past `factor`."""
    tests = list({id(c.test): c.test for c in changes if c.test is not None}.values())
    made = control(tests, factor)
    for c in changes:
        t = c.test
        if t is None:
            continue
        c.p, c.p_adjusted, c.needed, c.runs = t.p, t.p_adjusted, t.needed, t.runs
        c.p_within, c.p_within_adjusted = t.p_within, t.p_within_adjusted
        inverse = bool(BY_KEY[c.metric].same_test_as)  # images/s, read from the epoch-time test
        c.low, c.high = ((1 / t.high, 1 / t.low) if inverse and t.low else (t.low, t.high))
        c.p_better, c.p_better_low, c.p_better_high = t.p_better, t.p_better_low, t.p_better_high
        tested = BY_KEY[BY_KEY[c.metric].same_test_as] if inverse else BY_KEY[c.metric]
        c.mark = verdict(t, tested.lower_is_better, factor)
        text = describe(t)
        if c.mark == SAME:
            text = f"{describe(t, needed=False)}; {same_text(t, factor)}"
        elif t.kind == "ratio" and not moved(t, factor):  # how many runs would detect it does not matter here
            text = (f"within ×{factor:g}: no change past the factor (untested: {t.why_untested})" if t.p is None
                    else f"{describe(t, needed=False)}; within ×{factor:g}: no change past the factor")
        if inverse:
            text = f"the epoch-time test: {text}"
        c.evidence = text + (f"; {c.also}" if c.also else "")
    return made


def compare_pairing(pairing: Pairing, predictions: Callable[[list[str]], pd.DataFrame]) -> list[Change]:
    """Every measure of every variant of one pairing, tested but not yet marked: `decide` marks them once the whole
    family of a comparison is known."""
    base, head = pairing.base, pairing.head
    if base is None or head is None or pairing.differs:
        why = ("not in base" if base is None else "not in head" if head is None
               else "other " + "; ".join(pairing.differs))
        labels = (head or base).labels
        return [Change(pairing.title, label, "all", "every measure", None, None, None, NOT_COMPARABLE, why)
                for label in labels]
    changes: list[Change] = []
    for label in head.labels + [l for l in base.labels if l not in head.labels]:
        b_ok, h_ok = base.ok[base.ok["label"] == label], head.ok[head.ok["label"] == label]
        if b_ok.empty or h_ok.empty:
            changes.append(Change(pairing.title, label, "all", "every measure", None, None, None, NOT_COMPARABLE,
                                  f"no ok run in {'base' if b_ok.empty else 'head'}"))
            continue
        mine: dict[str, Change] = {}
        for m in MEASURES:
            if m.same_test_as:
                mine[m.key] = inverse_change(mine[m.same_test_as], m, base, head)
            elif m.rule == ACCURACY:
                mine[m.key] = accuracy_change(pairing.title, label, b_ok, h_ok, predictions)
            elif m.rule in (RUNS, PROCESSES):
                mine[m.key] = ratio_change(pairing.title, label, m, base, head)
            else:
                mine[m.key] = exact_change(pairing.title, label, m, b_ok, h_ok)
        changes += mine.values()
    return changes
