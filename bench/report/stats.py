"""The statistics of a report: mean ± sample sd over seeds, and the per-image McNemar test (the verdicts over seeds
and runs are bench.report.verdicts')."""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd


def mean_sd(values: pd.Series) -> tuple[float, float | None, int]:
    """Mean, sample standard deviation (None for one value) and count of the non-missing values."""
    values = values.dropna().astype(float)
    n = len(values)
    return (float(values.mean()) if n else math.nan), (float(values.std(ddof=1)) if n > 1 else None), n


@dataclass
class PerImage:
    """Test images scored right by only one of two models, per paired seed, with a McNemar test stratified by seed."""

    pairs: int  # seeds paired
    images: int  # distinct test images compared (each counted once, whatever the number of seeds)
    per_seed: list[tuple[int, int, int]]  # (seed, right by the variant only, right by the baseline only)
    p_value: float  # exact stratified McNemar test, two-sided (see mcnemar_stratified)

    @property
    def only_variant(self) -> int:
        return sum(v for _, v, _ in self.per_seed)

    @property
    def only_baseline(self) -> int:
        return sum(b for _, _, b in self.per_seed)


class LabelsDisagree(ValueError):
    """Paired runs whose test labels differ: their test splits are not the same images."""


def mcnemar_stratified(per_seed: list[tuple[int, int]]) -> float:
    """Exact McNemar test over strata (one per paired seed), two-sided: within each seed, given its n discordant
    images, the variant-only count is Binomial(n, 1/2) when the two models are equally good; the strata are
    independent, so their sum is Binomial(Σn, 1/2), the conditional distribution the test reads its p-value from
    (the exact counterpart of the Cochran–Mantel–Haenszel test for matched pairs)."""
    from scipy.stats import binomtest

    only_variant = sum(v for v, _ in per_seed)
    n = sum(v + b for v, b in per_seed)
    return 1.0 if n == 0 else float(binomtest(only_variant, n, 0.5).pvalue)


def per_image(variant: pd.DataFrame, baseline: pd.DataFrame) -> PerImage | None:
    """Each frame has seed, index, label, predicted (one row per test image per seed); the seeds both ran are the
    strata. Raises LabelsDisagree when a paired image has two labels (the splits differ)."""
    both = variant.merge(baseline, on=["seed", "index"], suffixes=("_v", "_b"))
    if both.empty:
        return None
    if (both["label_v"] != both["label_b"]).any():
        raise LabelsDisagree("paired runs disagree on the test labels: their test splits differ")
    right_v, right_b = both["predicted_v"] == both["label_v"], both["predicted_b"] == both["label_b"]
    per_seed = []
    for seed, rows in both.assign(v=right_v & ~right_b, b=right_b & ~right_v).groupby("seed"):
        per_seed.append((int(seed), int(rows["v"].sum()), int(rows["b"].sum())))
    return PerImage(len(per_seed), int(both["index"].nunique()), per_seed,
                    mcnemar_stratified([(v, b) for _, v, b in per_seed]))
