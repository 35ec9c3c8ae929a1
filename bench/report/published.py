"""Published figures beside the measured ones: one table per reference, and whether its ordering holds here.

Reads only what the rows carry (`suite_published`, the suite's references as they were when the runs were made).
"""
from __future__ import annotations

import itertools
import json

from .experiments import Experiment
from .markdown import markdown_table
from ..store.metrics import BY_COLUMN, Metric, header

MAX_NAMED_FLIPS = 3  # pairs named in full; the rest are counted


def references(exp: Experiment) -> list[dict]:
    """The published references the experiment's newest row carries (rows written before they existed: none)."""
    text = exp.rows.iloc[0].get("suite_published")
    return json.loads(text) if isinstance(text, str) and text else []


def measured(exp: Experiment, label: str, metric: Metric) -> tuple[float | None, int]:
    """The mean of `metric` over the label's ok runs, in the unit the report shows, and how many runs went in."""
    values = exp.ok.loc[exp.ok["label"] == label, metric.column].dropna().astype(float) * metric.scale
    return (float(values.mean()) if len(values) else None), len(values)


def ordering(values: dict[str, float]) -> str:
    """`a (93.0) > b (92.1)`: labels from the largest value to the smallest."""
    return " > ".join(f"{label} ({value:g})" for label, value in sorted(values.items(), key=lambda kv: -kv[1]))


def flipped_pairs(published: dict[str, float], mine: dict[str, float]) -> list[tuple[str, str]]:
    """Pairs (a, b) published with a above b that are not above here (equal counts as not above); published ties
    say nothing and are skipped."""
    out = []
    for a, b in itertools.combinations(published, 2):
        if published[a] == published[b]:
            continue
        high, low = (a, b) if published[a] > published[b] else (b, a)
        if not mine[high] > mine[low]:
            out.append((high, low))
    return out


def verdict(published: dict[str, float], mine: dict[str, float], metric: Metric, runs: dict[str, int]) -> str:
    """One paragraph: the published ordering, the measured one, and whether the first holds in this run."""
    if len(mine) < 2:
        return "Fewer than two of its variants have a measured value here: no ordering to check."
    shown = {k: round(v, metric.digits) for k, v in mine.items()}  # judged as shown: equal cells are a tie
    text = f"Published: {ordering({k: published[k] for k in mine})}. Measured: {ordering(shown)}. "
    flips = flipped_pairs({k: published[k] for k in mine}, shown)
    if not flips:
        text += "**The published ordering holds here.**"
    else:
        pairs = len(mine) * (len(mine) - 1) // 2
        named = "; ".join(f"{a} is above {b} as published but not here ({shown[a]:g} vs {shown[b]:g})"
                          for a, b in flips[:MAX_NAMED_FLIPS])
        rest = f"; and {len(flips) - MAX_NAMED_FLIPS} more" if len(flips) > MAX_NAMED_FLIPS else ""
        text += (f"**The published ordering does not hold here** ({len(flips)} of {pairs} pair{'s' * (pairs > 1)}): "
                 f"{named}{rest}.")
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
    return f"**{ref['source']}** — {name} on {ref['dataset']}. {where}\n\n{table}\n\n{verdict(published, mine, metric, runs)}"


def published_section(exp: Experiment) -> str | None:
    """The experiment's "Published" section, or None when its suite cites nothing."""
    refs = references(exp)
    if not refs:
        return None
    return "### Published\n\n" + "\n\n".join(reference_section(ref, exp) for ref in refs)

