"""Published figures beside the measured ones: one table per reference, and whether its ordering holds here.

Reads only what the rows carry (`suite_published`, the suite's references as they were when the runs were made).
"""
from __future__ import annotations

import itertools
import json

from .experiments import Experiment
from .judge import counted, flagged
from .markdown import markdown_table
from ..store.metrics import BY_COLUMN, Metric, header

MAX_NAMED_FLIPS = 3  # pairs named in full; the rest are counted


def references(exp: Experiment) -> list[dict]:
    """The published references the experiment's newest row carries (rows written before they existed: none)."""
    text = exp.rows.iloc[0].get("suite_published")
    return json.loads(text) if isinstance(text, str) and text else []


def measured(exp: Experiment, label: str, metric: Metric) -> tuple[float | None, int]:
    """The mean of `metric` over the rows the comparison table counts for this label (contended timings left out
    as there), in the unit the report shows, and how many runs went in."""
    values = counted(exp, label, metric.timing)[metric.column].dropna().astype(float) * metric.scale
    return (float(values.mean()) if len(values) else None), len(values)


def ordering(values: dict[str, float]) -> str:
    """`a (93.0) > b (92.1) = c (92.1)`: labels from the largest value to the smallest, ties marked."""
    ranked = sorted(values.items(), key=lambda kv: -kv[1])
    text = ""
    for i, (label, value) in enumerate(ranked):
        if i:
            text += " = " if value == ranked[i - 1][1] else " > "
        text += f"{label} ({value:g})"
    return text


def comparable_pairs(published: dict[str, float], mine: dict[str, float]) -> list[tuple[str, str]]:
    """Pairs (high, low) that differ both as published and as measured (at the shown precision): a tie on either
    side says nothing about an ordering, so it is no pair to judge."""
    out = []
    for a, b in itertools.combinations(published, 2):
        if published[a] != published[b] and mine[a] != mine[b]:
            out.append((a, b) if published[a] > published[b] else (b, a))
    return out


def flipped_pairs(published: dict[str, float], mine: dict[str, float]) -> list[tuple[str, str]]:
    """Comparable pairs (a, b) published with a above b that are below here."""
    return [(high, low) for high, low in comparable_pairs(published, mine) if mine[high] < mine[low]]


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def verdict(published: dict[str, float], mine: dict[str, float], metric: Metric, runs: dict[str, int],
            left_out: dict[str, str] | None = None) -> str:
    """One paragraph: the published ordering, the measured one, and whether the first holds in this run, over the
    comparable pairs of the variants not left out (`left_out`: label → why, e.g. did not plateau)."""
    left_out = {k: v for k, v in (left_out or {}).items() if k in published}
    text = ("Left out of the verdict: " + "; ".join(f"{label} ({why})" for label, why in left_out.items())
            + ". ") if left_out else ""
    mine = {k: v for k, v in mine.items() if k not in left_out}
    runs = {k: v for k, v in runs.items() if k in mine}
    if len(mine) < 2:
        return text + "Fewer than two of its variants have a measured value here: no ordering to check."
    shown = {k: round(v, metric.digits) for k, v in mine.items()}  # judged as shown: equal cells are a tie
    own = {k: published[k] for k in mine}
    text += f"Published: {ordering(own)}. Measured: {ordering(shown)}. "
    pairs, flips = comparable_pairs(own, shown), flipped_pairs(own, shown)
    ties = len(mine) * (len(mine) - 1) // 2 - len(pairs)
    if not pairs:
        text += "**No pair can be compared here**: every pair is tied, as published or as measured."
    elif not flips:
        text += f"**The published ordering holds here** ({len(pairs)} of {plural(len(pairs), 'comparable pair')})."
    else:
        named = "; ".join(f"{a} is above {b} as published but not here ({shown[a]:g} vs {shown[b]:g})"
                          for a, b in flips[:MAX_NAMED_FLIPS])
        rest = f"; and {len(flips) - MAX_NAMED_FLIPS} more" if len(flips) > MAX_NAMED_FLIPS else ""
        text += (f"**The published ordering does not hold here** ({len(flips)} of "
                 f"{plural(len(pairs), 'comparable pair')}): {named}{rest}.")
    if ties and pairs:
        text += f" ({plural(ties, 'tied pair')} not compared.)"
    if max(runs.values()) < 2:
        text += " (One run per variant: an ordering from single runs can change with the seed.)"
    elif min(runs.values()) < 2:
        text += " (One run for some variant: an ordering from single runs can change with the seed.)"
    return text


def reference_section(ref: dict, exp: Experiment) -> str:
    """One reference: where it is from, how it differs from this run, the values side by side, the verdict."""
    metric = BY_COLUMN[ref["metric"]]
    name = header(metric, size=exp.facts.get("recipe.input_size", "?"))
    published = {label: float(value) for label, value in ref["values"]}
    rows, mine, runs = [], {}, {}
    for label, value in published.items():
        mean, n = measured(exp, label, metric)
        if mean is not None:
            mine[label], runs[label] = mean, n
        cell = "–" if mean is None else f"{mean:.{metric.digits}f}" + (f" (n={n})" if n > 1 else "")
        rows.append([label, f"{value:g}", cell])
    kind = exp.facts.get("data.kind", "?")
    if ref.get("dataset_spec") and ref["dataset_spec"] == kind:
        where = f"The same data set as this run ({kind}); the recipe differs: {ref['setting']}."
    else:
        where = (f"Published on {ref['dataset']}, measured here on {kind}: other data and another recipe "
                 f"({ref['setting']}), so only the ordering can be compared, not the values.")
    table = markdown_table(["variant", f"published {name}", f"measured {name}"], rows)
    judged = verdict(published, mine, metric, runs, flagged(exp))
    return f"**{ref['source']}** — {name} on {ref['dataset']}. {where}\n\n{table}\n\n{judged}"


def published_section(exp: Experiment) -> str | None:
    """The experiment's "Published" section, or None when its suite cites nothing."""
    refs = references(exp)
    if not refs:
        return None
    return "### Published\n\n" + "\n\n".join(reference_section(ref, exp) for ref in refs)

