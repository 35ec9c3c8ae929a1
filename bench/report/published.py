"""Published figures beside the measured ones: one table per reference, and whether its ordering holds here.

Reads only what the rows carry (`suite_published`, the suite's references as they were when the runs were made).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from .experiments import Experiment
from .judge import ACCURACY_COLUMNS, flagged, seed_values, too_short_to_judge
from .verdicts import (BETTER, INCONCLUSIVE, SAME, WORSE, Test, accuracy_test, control, family_statement, margin_text,
                       needed_text, p_text, ratio_test, verdict)
from .markdown import markdown_table, plain
from ..store.metrics import BY_COLUMN, Metric, header
from ..store.shards import PARSED

MAX_NAMED_FLIPS = 3  # pairs named in full; the rest are counted


def references(exp: Experiment) -> list[dict]:
    """The published references the experiment's newest row carries (rows written before they existed: none)."""
    return exp.rows.iloc[0].get(PARSED["suite_published"]) or []


def measured(exp: Experiment, label: str, metric: Metric) -> tuple[float | None, int]:
    """The mean of `metric` over the rows the comparison table counts for this label (contended timings left out
    as there), in the unit the report shows, and how many runs went in."""
    values = list(seed_values(exp, label, metric.column, metric.scale, metric.timing).values())
    return (float(sum(values) / len(values)) if values else None), len(values)


def ordering(values: dict[str, float]) -> str:
    """`a (93.0) > b (92.1) = c (92.1)`: labels from the largest value to the smallest, ties marked."""
    ranked = sorted(values.items(), key=lambda kv: -kv[1])
    text = ""
    for i, (label, value) in enumerate(ranked):
        if i:
            text += " = " if value == ranked[i - 1][1] else " > "
        text += f"{plain(label)} ({value:g})"
    return text


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


HOLDS, FAILS, SAME_HERE = "holds", "fails", "the same"  # a published pair's verdict here; else INCONCLUSIVE


@dataclass
class PairVerdict:
    """One published pair (`high` published above `low`) tested on the runs here, one value per run."""

    high: str
    low: str
    test: Test
    word: str = INCONCLUSIVE


def pair_verdicts(published: dict[str, float], runs: dict[str, dict[int, float]], metric: Metric,
                  test_images: int | None = None) -> tuple[list[PairVerdict], int]:
    """Every pair the source publishes apart, tested here (bench.report.verdicts: accuracy over seeds, a time as a
    ratio over runs) as one family: it holds when the runs show the published order significantly, fails when they
    show the opposite, is the same here when they show the difference within the margin (TOST, its own family), and
    is inconclusive otherwise. Returns the pairs and the family's size."""
    pairs = []
    for a, b in itertools.combinations([k for k in published if k in runs], 2):
        if published[a] == published[b]:
            continue
        high, low = (a, b) if published[a] > published[b] else (b, a)
        if metric.column in ACCURACY_COLUMNS:
            test = accuracy_test(runs[low], runs[high], test_images)
        else:
            test = ratio_test(list(runs[low].values()), list(runs[high].values()))
        pairs.append(PairVerdict(high, low, test))
    family = control([p.test for p in pairs])
    for p in pairs:
        word = verdict(p.test, lower_is_better=False)  # "better": high measured above low, as published
        p.word = {BETTER: HOLDS, WORSE: FAILS, SAME: SAME_HERE}.get(word, INCONCLUSIVE)
    return pairs, family


def verdict_text(published: dict[str, float], runs: dict[str, dict[int, float]], metric: Metric,
                 left_out: dict[str, str] | None = None, test_images: int | None = None) -> str:
    """One paragraph: the published ordering, the measured one, and for each pair the source publishes apart whether
    it holds here, fails or cannot be told from these runs (with the runs a side that would tell), over the variants
    not left out (`left_out`: label → why, e.g. did not plateau)."""
    left_out = {k: v for k, v in (left_out or {}).items() if k in published}
    text = ("Left out of the verdict: " + "; ".join(f"{plain(label)} ({why})" for label, why in left_out.items())
            + ". ") if left_out else ""
    runs = {k: v for k, v in runs.items() if k in published and k not in left_out and v}
    if len(published) < 2:
        return text + "The source gives one of these variants: its value beside the measured one, no ordering to judge."
    if len(runs) < 2:
        return text + "Fewer than two of its variants have a measured value here: no ordering to check."
    means = {k: round(sum(v.values()) / len(v), metric.digits) for k, v in runs.items()}
    own = {k: published[k] for k in runs}
    text += f"Published: {ordering(own)}. Measured (mean over runs): {ordering(means)}. "
    pairs, family = pair_verdicts(published, runs, metric, test_images)
    if not pairs:
        return text + "**No pair to check**: the source publishes every pair of these variants as equal."
    tied = sum(published[a] == published[b] for a, b in itertools.combinations(list(runs), 2))
    counts = {w: [p for p in pairs if p.word == w] for w in (HOLDS, FAILS, SAME_HERE, INCONCLUSIVE)}
    margin = margin_text(pairs[0].test.kind)
    text += ordering_verdict(counts, len(pairs), margin) + " "
    text += (f"**Of {plural(len(pairs), 'published pair')}: {len(counts[HOLDS])} hold here, {len(counts[FAILS])} "
             f"fail, {len(counts[SAME_HERE])} the same here, {len(counts[INCONCLUSIVE])} inconclusive** "
             f"({family_statement(family)}"
             + (f"; the same pairs also tested for a difference within {margin} (two one-sided t-tests), "
                "adjusted as a family of their own" if family else "") + ")"
             + (f"; {plural(tied, 'pair')} published as equal, not tested." if tied else "."))
    if counts[FAILS]:
        named = "; ".join(f"{plain(p.high)} is above {plain(p.low)} as published, below here ({means[p.high]:g} vs "
                          f"{means[p.low]:g})" for p in counts[FAILS][:MAX_NAMED_FLIPS])
        more = len(counts[FAILS]) - MAX_NAMED_FLIPS
        text += f" Fail: {named}" + (f"; and {more} more" if more > 0 else "") + "."
    if counts[SAME_HERE]:
        named = "; ".join(f"{plain(p.high)} vs {plain(p.low)} (adjusted p={p_text(p.test.p_within_adjusted)})"
                          for p in counts[SAME_HERE][:MAX_NAMED_FLIPS])
        more = len(counts[SAME_HERE]) - MAX_NAMED_FLIPS
        text += f" The same within {margin}: {named}" + (f"; and {more} more" if more > 0 else "") + "."
    if counts[INCONCLUSIVE]:
        named = "; ".join(f"{plain(p.high)} vs {plain(p.low)} ({inconclusive_why(p.test)})"
                          for p in counts[INCONCLUSIVE][:MAX_NAMED_FLIPS])
        more = len(counts[INCONCLUSIVE]) - MAX_NAMED_FLIPS
        text += f" Inconclusive: {named}" + (f"; and {more} more" if more > 0 else "") + "."
    return text


def ordering_verdict(counts: dict[str, list[PairVerdict]], pairs: int, margin: str) -> str:
    """The source's ordering as one claim: one pair shown reversed refutes it, it holds when every pair it publishes
    apart holds, it does not show when every pair holds or is shown the same (within the margin) and some are the
    same, and it cannot be told while a pair is inconclusive and none is reversed."""
    if counts[FAILS]:
        return (f"**The published ordering does not hold here**: {plural(len(counts[FAILS]), 'pair')} of "
                f"{pairs} reversed.")
    if len(counts[HOLDS]) == pairs:
        return "**The published ordering holds here**: every pair it publishes apart."
    if not counts[INCONCLUSIVE]:
        rest = f", the other {len(counts[HOLDS])} hold" if counts[HOLDS] else ""
        return (f"**The published ordering does not show here**: {len(counts[SAME_HERE])} of {pairs} pairs the "
                f"same within {margin}{rest}, none reversed.")
    return (f"**The published ordering cannot be told here yet**: {len(counts[INCONCLUSIVE])} of {pairs} "
            "pairs inconclusive, none reversed.")


def inconclusive_why(test: Test) -> str:
    if test.p is None:
        return test.why_untested.split(":")[0] + (f", {needed_text(test.needed)} {test.unit} a side needed"
                                                  if test.needed else "")
    need = f"; {needed_text(test.needed)} {test.unit} a side would tell" if test.needed else ""
    return f"adjusted p={test.p_adjusted:.2g}{need}"


def cannot_speak(exp: Experiment) -> str | None:
    """Why this experiment's runs cannot be read against full-scale published figures, in one line: a training slice
    (`train_limit`) or runs too short to judge convergence. None when they can."""
    limit = exp.facts.get("recipe.train_limit")
    short = too_short_to_judge(exp)
    if limit is None and not short:
        return None
    epochs = sorted({int(e) for e in exp.ok["epochs_run"].dropna()}) if "epochs_run" in exp.ok else []
    size = f"{int(limit):,}-image" if limit is not None else "full-data"
    length = "/".join(str(e) for e in epochs) + "-epoch" if epochs else "short"
    why = "trained on a slice of the training split" if limit is not None else "too short to judge convergence"
    return (f"{size}, {length} runs ({why}): not judged against full-scale published figures; run the suite on "
            "its whole data set and epochs for a verdict.")


def reference_section(ref: dict, exp: Experiment, mute: str | None = None) -> str:
    """One reference: where it is from, how it differs from this run, the values side by side, and the verdict, or
    in its place `mute`, the one line saying why these runs cannot be judged against it (`cannot_speak`)."""
    metric = BY_COLUMN[ref["metric"]]
    name = header(metric, size=exp.facts.get("recipe.input_size", "?"))
    published = {label: float(value) for label, value in ref["values"]}
    rows, runs = [], {}
    for label, value in published.items():
        mean, n = measured(exp, label, metric)
        runs[label] = seed_values(exp, label, metric.column, metric.scale, metric.timing)
        cell = "–" if mean is None else f"{mean:.{metric.digits}f}" + (f" (n={n})" if n > 1 else "")
        rows.append([plain(label), f"{value:g}", cell])
    kind = exp.facts.get("data.kind", "?")
    source, dataset, setting = (plain(ref.get(key, ""), code=True) for key in ("source", "dataset", "setting"))
    if ref.get("dataset_spec") and ref["dataset_spec"] == kind:
        where = f"The same data set as this run ({plain(kind)}); the recipe differs: {setting}."
    else:
        where = (f"Published on {dataset}, measured here on {plain(kind)}: other data and another recipe "
                 f"({setting}), so only the ordering can be compared, not the values.")
    table = markdown_table(["variant", f"published {name}", f"measured {name}"], rows)
    images = exp.ok["test_images"].dropna() if "test_images" in exp.ok else []
    judged = f"No verdict: {mute}" if mute else \
        verdict_text(published, runs, metric, flagged(exp), int(min(images)) if len(images) else None)
    return f"**{source}** — {name} on {dataset}. {where}\n\n{table}\n\n{judged}"


def published_section(exp: Experiment) -> str | None:
    """The experiment's "Published" section, or None when its suite cites nothing."""
    refs = references(exp)
    if not refs:
        return None
    mute = cannot_speak(exp)  # a slice or short runs: the values side by side as far as they go, no verdict
    return "### Published\n\n" + "\n\n".join(reference_section(ref, exp, mute) for ref in refs)

