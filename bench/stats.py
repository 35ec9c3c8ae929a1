"""The statistics of a report: mean ± sample sd over seeds, and paired differences with a t confidence interval."""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd


@dataclass
class Difference:
    """A paired difference (variant − baseline) over the seeds both ran; the CI is None below two seeds."""

    mean: float
    n: int
    low: float | None = None
    high: float | None = None


def mean_sd(values: pd.Series) -> tuple[float, float | None, int]:
    """Mean, sample standard deviation (None for one value) and count of the non-missing values."""
    values = values.dropna().astype(float)
    n = len(values)
    return (float(values.mean()) if n else math.nan), (float(values.std(ddof=1)) if n > 1 else None), n


def paired_difference(variant: pd.Series, baseline: pd.Series, confidence: float = 0.95) -> Difference | None:
    """Mean of variant − baseline over the seeds (the index) both have, with a Student-t interval."""
    from scipy import stats

    both = pd.concat([variant.rename("v"), baseline.rename("b")], axis=1, join="inner").dropna()
    if both.empty:
        return None
    d = both["v"] - both["b"]
    n, mean = len(d), float(d.mean())
    if n < 2:
        return Difference(mean, n)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * d.std(ddof=1) / math.sqrt(n))
    return Difference(mean, n, mean - half, mean + half)
