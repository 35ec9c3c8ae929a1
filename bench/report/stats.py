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


@dataclass
class PerImage:
    """Test images scored right by only one of two models, pooled over the seeds both ran, with McNemar's test."""

    pairs: int  # seeds paired
    images: int  # test images compared, over all pairs
    only_variant: int  # right by the variant, wrong by the baseline
    only_baseline: int
    p_value: float  # McNemar's exact (binomial) two-sided p-value on the discordant counts


def mcnemar_exact(only_variant: int, only_baseline: int) -> float:
    """Two-sided exact McNemar test: the discordant images split as Binomial(n, 1/2) if the models are equal."""
    from scipy.stats import binomtest

    n = only_variant + only_baseline
    return 1.0 if n == 0 else float(binomtest(only_variant, n, 0.5).pvalue)


def per_image(variant: pd.DataFrame, baseline: pd.DataFrame) -> PerImage | None:
    """Pool the seeds both ran: each frame has seed, index, label, predicted (one row per test image per seed)."""
    both = variant.merge(baseline, on=["seed", "index"], suffixes=("_v", "_b"))
    if both.empty:
        return None
    if (both["label_v"] != both["label_b"]).any():
        raise ValueError("paired runs disagree on the test labels: their test splits differ")
    right_v, right_b = both["predicted_v"] == both["label_v"], both["predicted_b"] == both["label_b"]
    only_v, only_b = int((right_v & ~right_b).sum()), int((right_b & ~right_v).sum())
    return PerImage(both["seed"].nunique(), len(both), only_v, only_b, mcnemar_exact(only_v, only_b))
