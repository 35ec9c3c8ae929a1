"""The verdict rules (bench.report.verdicts) against independent computations (scipy, statsmodels, a hand-written
Benjamini–Hochberg step-up), and calibrated on simulated no-change data: autocorrelated epoch series with a machine
state per run, per-process latencies with drift, seed-to-seed accuracy spread. The false-mark rate over many
simulated A/A comparisons must sit at or below the stated level; planted changes with three runs a side must be
caught."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import TTestIndPower, TTestPower
from statsmodels.stats.weightstats import ttost_ind, ttost_paired

from bench.report.verdicts import (ALPHA, BETTER, EQUAL_PP, FACTOR, INCONCLUSIVE, MIN_RUNS, SAME, WORSE,
                                   accuracy_test, control, family_statement, ratio_test, runs_needed, verdict)


def test_paired_accuracy_is_scipys_paired_t_with_its_interval_and_probability_of_improvement():
    base = {0: 90.1, 1: 91.0, 2: 89.5, 3: 90.7, 4: 90.2}
    head = {0: 91.0, 1: 91.2, 2: 90.9, 3: 91.9, 4: 90.0}
    t = accuracy_test(base, head)
    d = np.array([head[s] - base[s] for s in base])
    ref = stats.ttest_rel(list(head.values()), list(base.values()))
    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert t.p == pytest.approx(ref.pvalue) and (t.low, t.high) == (pytest.approx(low), pytest.approx(high))
    assert t.estimate == pytest.approx(d.mean()) and t.p_better == 0.8  # four seeds of five better after
    # its interval: scipy's percentile bootstrap over seeds, by hand with numpy's resampling of the same seeds
    rng = np.random.default_rng(0)
    resampled = [np.mean(d[rng.integers(0, len(d), len(d))] > 0) for _ in range(4000)]
    assert t.p_better_low == pytest.approx(np.percentile(resampled, 2.5), abs=0.21)
    assert t.p_better_low <= t.p_better <= t.p_better_high == 1.0
    assert accuracy_test(dict(list(base.items())[:3]), dict(list(head.items())[:3])).p_better_low is None  # 3 seeds
    effect = d.mean() / d.std(ddof=1)  # the power a paired design needs, by statsmodels
    assert t.needed == max(2, math.ceil(TTestPower().solve_power(effect, alpha=ALPHA, power=0.8)))


def test_unpaired_accuracy_is_welchs_t():
    base, head = {0: 90.0, 1: 91.0, 2: 92.0}, {5: 93.0, 6: 94.5, 7: 93.2, 8: 95.0}
    t = accuracy_test(base, head)
    ref = stats.ttest_ind(list(head.values()), list(base.values()), equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert "Welch" in t.method and t.p == pytest.approx(ref.pvalue)
    assert (t.low, t.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    # P(head > base) over every (head, base) pair of runs: here all 12 pairs
    assert t.p_better == 1.0


def test_one_seed_a_side_is_never_tested_and_names_the_seeds_needed_from_the_test_sets_spread():
    t = accuracy_test({0: 90.0}, {0: 85.0}, test_images=400)
    assert t.p is None and verdict(t, lower_is_better=False) == INCONCLUSIVE
    sd = 100 * math.sqrt(0.875 * 0.125 / 400)  # a binomial proportion's sd at the mean accuracy, in points
    assert t.needed == math.ceil(TTestIndPower().solve_power(5 / sd, alpha=ALPHA, power=0.8))


@pytest.mark.parametrize("effect, sd, paired", [(0.5, 1.0, True), (1.0, 1.0, False), (0.2, 1.0, False),
                                                (2.0, 1.5, True), (0.03, 0.05, False)])
def test_runs_needed_is_statsmodels_power_rounded_up(effect, sd, paired):
    power = TTestPower() if paired else TTestIndPower()
    expected = max(2, math.ceil(power.solve_power(effect / sd, alpha=ALPHA, power=0.8)))
    assert abs(runs_needed(effect, sd, paired) - expected) <= (0 if expected < 50 else expected // 10)


def test_a_ratio_is_welchs_t_on_logs_and_needs_three_runs_a_side():
    base, head = [1.00, 1.03, 0.98], [1.52, 1.49, 1.55]
    t = ratio_test(base, head)
    ref = stats.ttest_ind(np.log(head), np.log(base), equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert t.estimate == pytest.approx(np.median(head) / np.median(base)) and t.p == pytest.approx(ref.pvalue)
    assert (t.low, t.high) == (pytest.approx(math.exp(ci.low)), pytest.approx(math.exp(ci.high)))
    short = ratio_test(base[:2], head)
    assert short.p is None and f"(a test needs {MIN_RUNS})" in short.why_untested and short.needed >= MIN_RUNS


def bh_by_hand(p: list[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values, step-up from the largest: min over j ≥ i of p_(j) m / j, capped at 1."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    adjusted, running = [0.0] * m, 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p[i] * m / rank)
        adjusted[i] = running
    return adjusted


def test_the_family_is_adjusted_by_benjamini_hochberg():
    raw = [0.001, 0.2, 0.012, 0.04, 0.03, 0.9]
    tests = [ratio_test([1.0, 1.1, 0.9], [1.0, 1.05, 0.95]) for _ in raw]
    for t, p in zip(tests, raw):
        t.p = p
    untested = ratio_test([1.0], [2.0])  # not tested: not in the family
    assert control(tests + [untested]) == len(raw) and untested.p_adjusted is None
    assert [t.p_adjusted for t in tests] == pytest.approx(bh_by_hand(raw))
    assert "6 test(s) made" in family_statement(6) and "no test could be made" in family_statement(0)


def test_the_same_within_a_margin_is_statsmodels_two_one_sided_tests():
    base = {0: 98.88, 1: 99.44, 2: 100.0, 3: 98.88, 4: 98.32}
    head = {0: 98.32, 1: 98.88, 2: 100.0, 3: 98.88, 4: 98.88}
    paired = accuracy_test(base, head)
    welch = accuracy_test({0: 90.0, 1: 90.4, 2: 89.8}, {5: 90.1, 6: 90.5, 7: 90.3, 8: 89.9})
    runs_b, runs_h = [1.00, 1.03, 0.98, 1.01], [1.02, 1.00, 1.04]
    ratio = ratio_test(runs_b, runs_h)
    far = accuracy_test({0: 90.0, 1: 91.0, 2: 92.0}, {0: 93.0, 1: 94.1, 2: 94.9})  # 3 points apart: not the same
    one = accuracy_test({0: 90.0}, {0: 90.1})
    control([paired, welch, ratio, far, one])  # the equivalence p-values are set here, with their family
    h, b = np.array(list(head.values())), np.array(list(base.values()))
    assert paired.p_within == pytest.approx(ttost_paired(h, b, -EQUAL_PP, EQUAL_PP)[0])
    assert welch.p_within == pytest.approx(ttost_ind([90.1, 90.5, 90.3, 89.9], [90.0, 90.4, 89.8], -EQUAL_PP,
                                                     EQUAL_PP, usevar="unequal")[0])
    assert ratio.p_within == pytest.approx(ttost_ind(runs_h, runs_b, 1 / FACTOR, FACTOR, usevar="unequal",
                                                     transform=np.log)[0])
    assert far.p_within > 0.5 and verdict(far, lower_is_better=False) == BETTER
    assert one.p_within is None and verdict(one, lower_is_better=False) == INCONCLUSIVE  # one seed: no spread
    raw = [paired.p_within, welch.p_within, ratio.p_within, far.p_within]
    assert [t.p_within_adjusted for t in (paired, welch, ratio, far)] == pytest.approx(bh_by_hand(raw))
    assert [verdict(t, lower_is_better=False) for t in (paired, welch)] == [SAME, SAME]
    control([ratio], factor=1.02)  # `bench compare --factor`: the ratio's margin is the factor given
    assert ratio.p_within == pytest.approx(ttost_ind(runs_h, runs_b, 1 / 1.02, 1.02, usevar="unequal",
                                                     transform=np.log)[0])


SAME_SEEDS, SAME_SD = 5, 0.5  # seeds a side, and the sd of one seed's paired difference, in points


def same_marks(rng: np.random.Generator, deltas: list[float]) -> list[tuple[bool, bool]]:
    """One family of paired accuracy comparisons with these true differences: (marked different, marked the same)."""
    tests = []
    for delta in deltas:
        base = {s: 95.0 + rng.normal(0, 0.6) for s in range(SAME_SEEDS)}
        tests.append(accuracy_test(base, {s: v + delta + rng.normal(0, SAME_SD) for s, v in base.items()}))
    control(tests)
    return [(verdict(t, lower_is_better=False) in (BETTER, WORSE), verdict(t, lower_is_better=False) == SAME)
            for t in tests]


def test_the_same_is_marked_at_or_below_the_stated_rate_where_the_difference_is_the_margin():
    """At a true difference of exactly the margin (the equivalence test's null, at its hardest), families of six
    pairs are marked "the same" on any pair at or below ALPHA; at no true difference the same test finds it."""
    rng = np.random.default_rng(20261205)
    at_margin = [any(same for _, same in same_marks(rng, [EQUAL_PP, -EQUAL_PP] * 3)) for _ in range(SIMULATED)]
    low = stats.binomtest(sum(at_margin), SIMULATED).proportion_ci(0.95).low
    assert low <= ALPHA, f"{sum(at_margin)} of {SIMULATED} families marked the same at the margin"
    at_zero = [same for _ in range(100) for _, same in same_marks(rng, [0.0] * 6)]
    assert sum(at_zero) / len(at_zero) > 0.5  # five seeds with a 0.5-point spread mostly show it


def test_both_families_together_keep_the_false_discovery_rate():
    """Per pair at most one of \"no difference\" and \"a difference past the margin\" is true; pairs of both kinds in
    one family: the mean share of false marks (a difference marked where there is none, the same marked at the
    margin) among all marks stays at ALPHA."""
    rng = np.random.default_rng(5)
    deltas = [0.0, 0.0, 0.0, EQUAL_PP, -EQUAL_PP, 3 * EQUAL_PP]
    shares = []
    for _ in range(SIMULATED):
        found = same_marks(rng, deltas)
        false = sum(found[i][0] for i in range(3)) + sum(found[i][1] for i in (3, 4))
        shares.append(false / max(1, sum(d + s for d, s in found)))
    assert np.mean(shares) <= ALPHA + 2 * np.std(shares) / math.sqrt(SIMULATED)


# --- calibration on simulated no-change data ---------------------------------------------------------------------

SEEDS, EPOCHS, PROCESSES = 3, 16, 3


def ar1(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    """An AR(1) series (lag-1 correlation `phi`), stationary, with marginal sd `sd`."""
    x = np.empty(n)
    x[0] = rng.normal(0, sd)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + rng.normal(0, sd * math.sqrt(1 - phi ** 2))
    return x


def one_side(rng: np.random.Generator, accuracy: float = 95.0, time_s: float = 2.0, latency_ms: float = 5.0,
             drift: float = 0.0) -> dict:
    """What one folder of runs holds: per seed, a test accuracy, an epoch series (a machine state per run, AR(1)
    epochs around it, lag-1 r 0.7), and each latency process's median (a process effect, the machine drifting)."""
    acc = {s: accuracy + rng.normal(0, 0.6) for s in range(SEEDS)}
    state = time_s * np.exp(rng.normal(0, 0.04, SEEDS))  # one run's machine state: the whole run a bit off
    epochs = [list(st * np.exp(ar1(rng, EPOCHS, 0.7, 0.05))) for st in state]
    walk = np.cumsum(rng.normal(0, 0.01, SEEDS * PROCESSES)) + drift  # slow drift over the processes made
    latency = list(latency_ms * np.exp(rng.normal(0, 0.05, SEEDS * PROCESSES) + walk))
    return {"acc": acc, "epochs": epochs, "latency": latency}


def marks(base: dict, head: dict) -> list[str]:
    """The verdicts of one comparison, as bench compare makes them: one number per run (per process for latency)."""
    tests = [(accuracy_test(base["acc"], head["acc"]), False),
             (ratio_test([float(np.median(e)) for e in base["epochs"]],
                         [float(np.median(e)) for e in head["epochs"]]), True),
             (ratio_test(base["latency"], head["latency"], ("process", "processes")), True)]
    control([t for t, _ in tests])
    return [verdict(t, lower_is_better) for t, lower_is_better in tests]


SIMULATED = 400


def test_simulated_aa_comparisons_mark_at_or_below_the_stated_rate():
    rng = np.random.default_rng(20261202)
    false = sum(any(m in (BETTER, WORSE) for m in marks(one_side(rng), one_side(rng))) for _ in range(SIMULATED))
    # every mark here is false; the binomial interval of the rate must reach down to ALPHA or below it
    low = stats.binomtest(false, SIMULATED).proportion_ci(0.95).low
    assert low <= ALPHA, f"{false} of {SIMULATED} A/A comparisons marked something"


def test_pooling_the_epochs_of_one_run_as_samples_would_cry_wolf():
    """Why the unit is the run: on the same no-change data, a rank test over pooled epochs marks far more often."""
    rng = np.random.default_rng(7)
    pooled = 0
    for _ in range(100):
        a, b = one_side(rng), one_side(rng)
        p = stats.mannwhitneyu(np.concatenate(a["epochs"]), np.concatenate(b["epochs"])).pvalue
        pooled += p < ALPHA
    assert pooled > 30  # against about 5 if the epochs were independent samples


def test_planted_changes_with_three_runs_a_side_are_caught():
    rng = np.random.default_rng(11)
    slower = [marks(one_side(rng), one_side(rng, time_s=3.0))[1] for _ in range(50)]  # 1.5× epoch time
    assert slower.count(WORSE) >= 45
    worse = [marks(one_side(rng), one_side(rng, accuracy=91.0))[0] for _ in range(50)]  # 4 points lost
    assert worse.count(WORSE) >= 45
    drift = [marks(one_side(rng), one_side(rng, drift=math.log(FACTOR) / 4))[2] for _ in range(50)]
    assert sum(m in (BETTER, WORSE) for m in drift) <= 5  # a drift well under the factor is never a mark
