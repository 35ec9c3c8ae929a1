"""The verdicts: is a difference between two sets of runs a change, or can the runs not tell? One home for the rules
that `bench compare`, the report's comparison and Published sections and the history view all apply.

- **The unit is the independent run**: one number per run (a seed's test accuracy, a run's median epoch time, its
  peak memory) or per process (a forward-latency median of one measuring process). Epochs and calls inside one run
  are autocorrelated and share one machine state: they describe the run, never the comparison.
- **Accuracy** (percentage points): paired by seed where both sides ran two or more seeds in common (paired t over
  the per-seed differences), else Welch's t; the 95% t interval of the difference, and P(head > base) with a
  percentile-bootstrap interval over seeds (Bouthillier et al. 2021). One seed a side is inconclusive, whatever
  the two trained models do on the test images (McNemar answers that, about two models, not about two recipes).
- **Times, throughput, memory, latency** (ratios): the ratio of the medians over runs, tested by Welch's t on the
  log of the per-run values; changed only past the factor **and** significant (asv's rule, on runs). Fewer than
  MIN_RUNS a side: no test.
- **The family**: every p-value of one comparison (one `bench compare`, one report section) is adjusted together by
  Benjamini–Hochberg (scipy.stats.false_discovery_control); a mark needs the adjusted p under ALPHA. Epoch time and
  images/s are one test, stated once.
- **A machine that ran at another speed** is not a change: each run records the machine's speed as it began (a
  dense-kernel probe, bench.measure.utilization.machine_tflops). When the two sides' median probes differ past
  MACHINE_DRIFT, their times and latencies are inconclusive (a shared host drifts by ×1.2 and more from one half
  hour to the next, with nothing a run can see), and say to time both sides in one session.
- **The same**, where a test of no difference cannot tell: the two one-sided t-tests (TOST) on the same per-run
  values show the difference within a stated margin (EQUAL_PP points of accuracy; a ratio within FACTOR either way).
  Those p-values are adjusted by Benjamini–Hochberg as a family of their own: for one pair, "no difference" and "a
  difference past the margin" cannot both be true, so at most one null per pair is, and the two families together
  keep the false discovery rate at ALPHA (the partitioning principle, Finner & Strassburger 2002).
- **Inconclusive** says how many runs a side would detect the observed difference (80% power at ALPHA, by the
  noncentral t), from the runs' own spread; with one seed a side, from the test set's sampling spread.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

FACTOR = 1.1  # a ratio (time, throughput, memory, latency) counts as a change only past this factor (asv's)
ALPHA = 0.05  # false discovery rate of a family (Benjamini–Hochberg); under no change at all, its family-wise rate
EQUAL_PP = 1.0  # accuracy: two sides are the same when their difference is shown within ±1 point (TOST)
POWER = 0.8  # the power the "runs needed" figure aims at
MIN_RUNS = 3  # runs (or processes) a side below which a ratio is not tested
MAX_NEEDED = 1000  # "runs needed" beyond this is written as more than it
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_MIN = 5  # values a side below which P(head > base) is given without an interval (3 seeds all one way
# resample to [0, 0] or [1, 1]: an interval far narrower than the truth)
FAMILY = "Benjamini–Hochberg"
MACHINE_DRIFT = 1.05  # sides whose machine-speed probes differ past this ratio do not decide a time or latency (the
# probe's median moves about 1% between probes on one machine state; machine drift moved it 8% while epoch times
# moved 24%, so a detector, never a correction)


# The verdict vocabulary, and asv's marks (plus = for the same: an exact count that did not move, or a difference
# shown within the margin).
BETTER, WORSE, INCONCLUSIVE, NOT_COMPARABLE, SAME = "better", "worse", "inconclusive", "not comparable", "same"
SYMBOLS = {WORSE: "+", BETTER: "-", INCONCLUSIVE: "~", NOT_COMPARABLE: "x", SAME: "="}


@dataclass
class Test:
    """One statistical comparison of per-run values, base against head, before and after the family's adjustment."""

    kind: str  # "accuracy" (Δ in points) or "ratio"
    estimate: float  # head − base (points) or median(head) / median(base)
    runs: tuple[int, int]  # values a side (runs, or processes for latency)
    method: str  # e.g. "paired t over 3 seeds", "Welch t on log per-run values, 3 and 3 runs"
    p: float | None = None  # None: not tested (too few runs a side)
    low: float | None = None  # 95% interval of the estimate
    high: float | None = None
    needed: int | None = None  # runs a side that would detect the estimate (80% power), when the test cannot
    why_untested: str = ""
    p_better: float | None = None  # accuracy: P(head > base), with its bootstrap interval
    p_better_low: float | None = None
    p_better_high: float | None = None
    p_adjusted: float | None = None  # set by control()
    within: Callable[[float], float] | None = field(default=None, repr=False)  # margin (points; log ratio) → TOST p
    p_within: float | None = None  # set by control(): TOST's p against a difference past the margin ...
    p_within_adjusted: float | None = None  # ... and adjusted, the equivalence tests as a family of their own
    unit: str = "runs"  # what one value is: seeds, runs, processes
    extra: dict = field(default_factory=dict)

    @property
    def significant(self) -> bool:
        return self.p_adjusted is not None and self.p_adjusted < ALPHA

    @property
    def within_margin(self) -> bool:
        """The difference is shown within the margin (TOST, adjusted with its family)."""
        return self.p_within_adjusted is not None and self.p_within_adjusted < ALPHA


def quiet():
    """scipy's warnings about nearly identical values (runs that agree to the last digits) are not the user's."""
    import warnings

    return warnings.catch_warnings(action="ignore", category=RuntimeWarning)


def _power(effect: float, sd: float, n: int, paired: bool) -> float:
    """Power of a two-sided t-test at ALPHA to detect `effect` with `n` values a side (pairs, when paired)."""
    from scipy import stats

    if sd <= 0:
        return 1.0
    if paired:
        df, nc = n - 1, effect / (sd / math.sqrt(n))
    else:
        df, nc = 2 * n - 2, effect / (sd * math.sqrt(2 / n))
    crit = stats.t.ppf(1 - ALPHA / 2, df)
    return float(stats.nct.sf(crit, df, abs(nc)) + stats.nct.cdf(-crit, df, abs(nc)))


def runs_needed(effect: float, sd: float, paired: bool) -> int | None:
    """The fewest runs a side (pairs, when paired) whose t-test detects `effect` with POWER at ALPHA, given the
    spread `sd` of one run (of one paired difference, when paired); None when there is nothing to detect."""
    if not math.isfinite(effect) or effect == 0 or not math.isfinite(sd):
        return None
    n = 2
    while n <= MAX_NEEDED:
        if _power(effect, sd, n, paired) >= POWER:
            return n
        n = n + 1 if n < 50 else int(n * 1.1)
    return MAX_NEEDED + 1


def tost(one_sided: Callable[[float, str], float]) -> Callable[[float], float]:
    """Two one-sided tests that a difference lies within ±margin, as a function of the margin: `one_sided(delta,
    alternative)` is the p of "the difference is greater (less) than delta"; the larger of the two decides."""
    def p(margin: float) -> float:
        with quiet():
            return float(max(one_sided(-margin, "greater"), one_sided(margin, "less")))

    return p


def exactly(difference: float) -> Callable[[float], float]:
    """TOST where every run gives one difference (no spread): within the margin for certain, or not at all."""
    return lambda margin: 0.0 if abs(difference) < margin else 1.0


def margin(kind: str, factor: float = FACTOR) -> float:
    """The equivalence margin of a kind of test, in the scale its TOST reads: points, or the log of the factor."""
    return EQUAL_PP if kind == "accuracy" else math.log(factor)


def margin_text(kind: str, factor: float = FACTOR) -> str:
    """The equivalence margin of a kind of test, in the unit it is shown in."""
    return f"±{EQUAL_PP:g} pp" if kind == "accuracy" else f"×{factor:g} either way"


def needed_text(n: int | None) -> str:
    if n is None:
        return "no difference to detect"
    return f"more than {MAX_NEEDED}" if n > MAX_NEEDED else f"about {n}"


def _p_better(d_or_pairs, paired: bool, head=None, base=None) -> tuple[float, float | None, float | None]:
    """P(head > base) over seeds (ties count a half), with a 95% percentile-bootstrap interval (scipy)."""
    from scipy import stats

    if paired:
        d = np.asarray(d_or_pairs, float)

        def prob(x, axis=-1):
            return np.mean((x > 0) + 0.5 * (x == 0), axis=axis)

        value, samples = float(prob(d)), (d,)
    else:
        h, b = np.asarray(head, float), np.asarray(base, float)

        def prob(x, y, axis=-1):
            x, y = np.expand_dims(x, -1), np.expand_dims(y, -2)
            return np.mean((x > y) + 0.5 * (x == y), axis=(-2, -1))

        value, samples = float(prob(h, b)), (h, b)
    if min(len(s) for s in samples) < BOOTSTRAP_MIN:  # a few values resample to little more than themselves
        return value, None, None
    import warnings

    with warnings.catch_warnings():  # all resamples alike (e.g. every seed better) is a fine answer here
        warnings.simplefilter("ignore")
        ci = stats.bootstrap(samples, prob, n_resamples=BOOTSTRAP_RESAMPLES, method="percentile", vectorized=True,
                             paired=False, rng=np.random.default_rng(0)).confidence_interval
    return value, float(ci.low), float(ci.high)


def accuracy_test(base: dict[int, float], head: dict[int, float], test_images: int | None = None) -> Test:
    """Test accuracy in points, seed → value a side. Paired by seed when two or more seeds are shared."""
    from scipy import stats

    b, h = np.array(list(base.values()), float), np.array(list(head.values()), float)
    shared = sorted(set(base) & set(head))
    estimate = float(h.mean() - b.mean())
    if len(shared) >= 2:
        d = np.array([head[s] - base[s] for s in shared], float)
        estimate = float(d.mean())
        test = Test("accuracy", estimate, (len(b), len(h)), f"paired t over {len(shared)} seeds", unit="seeds")
        if np.all(d == d[0]):  # no spread: a t-test has nothing to divide by
            test.p = 1.0 if d[0] == 0 else 0.0
            test.low = test.high = float(d[0])
            test.within = exactly(float(d[0]))
        else:
            with quiet():
                result = stats.ttest_rel(d, np.zeros_like(d))
            test.p = float(result.pvalue)
            ci = result.confidence_interval(0.95)
            test.low, test.high = float(ci.low), float(ci.high)
            test.within = tost(lambda delta, alt: stats.ttest_1samp(d, delta, alternative=alt).pvalue)
        sd = float(d.std(ddof=1))
        test.p_better, test.p_better_low, test.p_better_high = _p_better(d, True)
        test.needed = runs_needed(estimate, sd, paired=True)
        return test
    test = Test("accuracy", estimate, (len(b), len(h)), f"Welch t, {len(b)} and {len(h)} seeds", unit="seeds")
    if len(b) >= 2 and len(h) >= 2 and (b.std() > 0 or h.std() > 0):
        with quiet():
            result = stats.ttest_ind(h, b, equal_var=False)
        test.p = float(result.pvalue)
        ci = result.confidence_interval(0.95)
        test.low, test.high = float(ci.low), float(ci.high)
        test.within = tost(lambda delta, alt: stats.ttest_ind(h - delta, b, equal_var=False, alternative=alt).pvalue)
        sd = math.sqrt((b.var(ddof=1) + h.var(ddof=1)) / 2)
        test.p_better, test.p_better_low, test.p_better_high = _p_better(None, False, h, b)
        test.needed = runs_needed(estimate, sd, paired=False)
        return test
    test.method = f"{len(b)} and {len(h)} seed(s)"
    test.why_untested = ("one seed a side: the seed-to-seed spread is unknown" if max(len(b), len(h)) < 2
                         else "one seed on a side: the seed-to-seed spread is unknown" if min(len(b), len(h)) < 2
                         else "no spread over seeds on either side")
    if test_images:  # the test set's own sampling spread, a floor on one run's spread
        p = float(np.clip(np.concatenate([b, h]).mean() / 100, 1e-3, 1 - 1e-3))
        sd = 100 * math.sqrt(p * (1 - p) / test_images)
        test.needed = runs_needed(estimate, sd, paired=False)
        test.extra["assumed_sd"] = sd
    return test


def ratio_test(base: list[float], head: list[float], unit: tuple[str, str] = ("run", "runs")) -> Test:
    """Positive per-run (or per-process) values a side: the ratio of medians, Welch's t on their logarithms."""
    from scipy import stats

    b, h = np.asarray(base, float), np.asarray(head, float)
    b, h = b[np.isfinite(b) & (b > 0)], h[np.isfinite(h) & (h > 0)]
    if not len(b) or not len(h):
        return Test("ratio", math.nan, (len(b), len(h)), "", why_untested="not measured on a side")
    ratio = float(np.median(h) / np.median(b))
    one, many = unit
    test = Test("ratio", ratio, (len(b), len(h)), f"Welch t on log per-{one} values, {len(b)} and {len(h)} {many}",
                unit=many)
    lb, lh = np.log(b), np.log(h)
    if min(len(b), len(h)) < MIN_RUNS:
        fewest = min(len(b), len(h))
        where = "a side" if max(len(b), len(h)) < MIN_RUNS else "on a side"
        test.why_untested = f"{fewest} {one if fewest == 1 else many} {where} (a test needs {MIN_RUNS})"
        spread = [x.std(ddof=1) for x in (lb, lh) if len(x) >= 2]
        sd = float(np.mean(spread)) if spread and np.mean(spread) > 0 else None
        test.needed = max(MIN_RUNS, runs_needed(math.log(ratio), sd, paired=False) or 0) if sd else MIN_RUNS
        return test
    if lb.std() == 0 and lh.std() == 0:
        test.p = 1.0 if ratio == 1 else 0.0
        test.low = test.high = ratio
        test.within = exactly(math.log(ratio))
        return test
    with quiet():
        result = stats.ttest_ind(lh, lb, equal_var=False)
    test.p = float(result.pvalue)
    ci = result.confidence_interval(0.95)
    test.low, test.high = float(math.exp(ci.low)), float(math.exp(ci.high))
    test.within = tost(lambda delta, alt: stats.ttest_ind(lh - delta, lb, equal_var=False, alternative=alt).pvalue)
    sd = math.sqrt((lb.var(ddof=1) + lh.var(ddof=1)) / 2)
    test.needed = runs_needed(math.log(ratio), sd, paired=False) if ratio != 1 else None
    return test


def control(tests: list[Test], factor: float = FACTOR) -> int:
    """Adjust every tested p-value of one family together (Benjamini–Hochberg, scipy), and the equivalence p-values
    (the margin: EQUAL_PP, or `factor` for a ratio) as a family of their own (module docstring); returns the family's
    size (tests of a difference)."""
    from scipy.stats import false_discovery_control

    for t in tests:
        t.p_within = t.within(margin(t.kind, factor)) if t.within is not None else None
    for raw, adjusted_name in (("p", "p_adjusted"), ("p_within", "p_within_adjusted")):
        tested = [t for t in tests if getattr(t, raw) is not None]
        if tested:
            adjusted = false_discovery_control([min(max(getattr(t, raw), 0.0), 1.0) for t in tested], method="bh")
            for t, p in zip(tested, np.atleast_1d(adjusted)):
                setattr(t, adjusted_name, float(p))
    return sum(t.p is not None for t in tests)


def moved(test: Test, factor: float = FACTOR) -> bool:
    """Whether the estimate is a change worth a mark at all: any Δ in accuracy; a ratio past the factor."""
    if test.kind == "accuracy":
        return test.estimate != 0
    return test.estimate >= factor or test.estimate <= 1 / factor


def verdict(test: Test, lower_is_better: bool, factor: float = FACTOR) -> str:
    """better or worse: the change past the factor and the adjusted p under ALPHA; else the same, when the difference
    is shown within the margin (TOST, adjusted with its family: `control` with the same factor); else inconclusive."""
    if not (moved(test, factor) and test.significant):
        return SAME if test.within_margin else INCONCLUSIVE
    up = test.estimate > (0 if test.kind == "accuracy" else 1)
    return WORSE if up == lower_is_better else BETTER


def family_statement(n: int) -> str:
    if n == 0:
        return "no test could be made (too few runs a side), so nothing is marked"
    return (f"{n} test(s) made; their p-values adjusted together by {FAMILY} (false discovery rate "
            f"{ALPHA:.0%}, which under no change at all bounds the chance of any false mark)")


def same_text(test: Test, factor: float = FACTOR) -> str:
    """Why a test reads as the same: its two one-sided tests, raw and adjusted; or, where every run gave one
    difference, that difference (a t-test has no spread to divide by)."""
    if test.low == test.high:  # no spread (set so where every run gave one difference)
        one = {"seeds": "seed", "processes": "process"}.get(test.unit, "run")
        shown = f"{test.estimate:+.2f} pp" if test.kind == "accuracy" else f"×{test.estimate:.3f}"
        return f"the same: {shown} on every {one}, within {margin_text(test.kind, factor)}"
    return (f"the same: within {margin_text(test.kind, factor)} by two one-sided t-tests, p={p_text(test.p_within)}, "
            f"adjusted {p_text(test.p_within_adjusted)}")


def p_text(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-300 else "< 1e-300"


# How to get the values a side an untested comparison lacks, by what one value is.
RERUN = {"seeds": "; re-run with `bench run --seeds N`", "runs": "; re-run with `bench run --seeds N`",
         "processes": "; time again with `bench latency --processes N`"}


def describe(test: Test, unit: str = "pp", needed: bool = True) -> str:
    """The test behind a verdict, in one clause: its method, interval, raw and adjusted p; or why none was made and
    (with `needed`) how many runs a side would tell."""
    if test.p is None:
        need = "" if test.needed is None else f"; {needed_text(test.needed)} {test.unit} a side needed"
        if test.kind == "accuracy" and "assumed_sd" in test.extra:
            need += f" (assuming a seed-to-seed sd of {test.extra['assumed_sd']:.2f} pp, the test set's sampling sd)"
        return f"inconclusive: {test.why_untested}{need}{RERUN.get(test.unit, '')}"
    if test.kind == "accuracy":
        text = f"{test.method}: 95% CI [{test.low:+.2f}, {test.high:+.2f}] {unit}"
        if test.p_better is not None:
            text += f", P(head > base) {test.p_better:.2f}"
            if test.p_better_low is not None:
                text += f" [{test.p_better_low:.2f}, {test.p_better_high:.2f}]"
    else:
        text = f"{test.method}: 95% CI ×[{test.low:.3f}, {test.high:.3f}]"
    text += f"; p={p_text(test.p)}"
    if test.p_adjusted is not None:
        text += f", adjusted {p_text(test.p_adjusted)}"
    if needed and not test.significant and test.needed is not None:
        text += f"; inconclusive: {needed_text(test.needed)} {test.unit} a side would detect a difference this size"
    return text


def machine_drift(base: list[float], head: list[float]) -> float | None:
    """The ratio of head's median machine-speed probe to base's when it is past MACHINE_DRIFT either way (the times
    of the two sides then measure two machines as much as two models); None when within, or a side has no probe."""
    if not base or not head:
        return None
    ratio = float(np.median(head) / np.median(base))
    return ratio if max(ratio, 1 / ratio) > MACHINE_DRIFT else None


def drift_text(ratio: float) -> str:
    return (f"not decided: the machine itself ran ×{ratio:.2f} as fast for head as for base (its speed probe, the "
            f"median over runs), and that cannot be told apart from a change; time both sides in one session")

