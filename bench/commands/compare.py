"""`bench compare BASE HEAD`: the runs of two results folders (or two commits of one), variant by variant, as a
markdown table or JSON; with --fail-if, exit 1 naming what got worse past its limit (for CI)."""
from __future__ import annotations

import dataclasses
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..core.argtypes import option
from ..core.errors import UsageError
from ..report.compare import FACTOR, SYMBOLS, WORSE, Change, compare_pairing, decide, pair
from ..store.metrics import ACCURACY, BY_KEY, COMPARED, PROCESSES, Metric
from ..store.shards import PARSED
from ..report.verdicts import ALPHA, EQUAL_PP, FAMILY, MIN_RUNS, family_statement

FORMATS = ("markdown", "json", "html")
LATENCY_KEY = "latency"  # --fail-if's key for every latency measure at once
POINT_KEYS = [m.key for m in COMPARED if m.rule == ACCURACY]  # limits in percentage points lost
RATIO_KEYS = list(dict.fromkeys(LATENCY_KEY if m.rule == PROCESSES else m.key for m in COMPARED
                                if m.rule != ACCURACY))  # limits as ratios


@dataclass
class CompareOptions:
    base: str = option(None, "the runs before: a results folder, several joined by commas (runs of several machines; "
                       "a run found twice counts once), and @REV for their runs of one git sha or harness code digest "
                       "(a prefix): DIR[,DIR...][@REV]", flag="base", metavar="BASE")
    head: str | None = option(None, "the runs after, written the same way (not with --history; default: BASE again "
                              "when --base-set or --head-set tell the sides apart)", flag="head", metavar="HEAD",
                              nargs="?")
    base_set: list[str] = option([], "keep only BASE's runs whose recipe has KEY=VALUE, and pair experiments across "
                                 "that field (repeatable): compares two recipes of one suite, e.g. --base-set "
                                 "batch_size=32 --head-set batch_size=64", action="append", metavar="KEY=VALUE")
    head_set: list[str] = option([], "the same for HEAD (repeatable)", action="append", metavar="KEY=VALUE")
    tuned: bool = option(False, "in one results folder (BASE): each variant at the values its tuning chose (`bench "
                         "run --tune`) against the shared recipe, e.g. `bench compare results --tuned`",
                         action="store_true")
    history: str | None = option(None, "instead of two sides: every identity VARIANT was run under in BASE, oldest "
                                 "first, each with its git sha, results and what changed since the one before",
                                 metavar="VARIANT")
    suite: str | None = option(None, "only this suite (default: every suite both sides hold)")
    factor: float = option(FACTOR, "a time, throughput, latency or memory ratio counts as a change only past this "
                           "factor, and as the same when shown within it (default %(default)s)", type=float)
    format: str = option("markdown", "markdown (default), json, or html: one self-contained page in the report's style "
                         "(sortable, filterable tables; each mark beside its evidence), e.g. `> compare.html`",
                         choices=FORMATS)
    fail_if: str | None = option(None, "exit 1 when a variant got worse past a limit: worse:accuracy=0.5,time=1.1 "
                                 f"({', '.join(POINT_KEYS)} in percentage points lost; {', '.join(RATIO_KEYS)} as "
                                 "ratios)", metavar="worse:KEY=LIMIT,...")


@dataclass
class Side:
    """One side of the comparison: its folders, the revision and recipe fields it is narrowed to, and its tables per
    suite (runs found in several folders count once, as in `bench report`)."""

    spec: str
    folders: list[Path]
    rev: str
    where: dict[str, object] = dataclasses.field(default_factory=dict)  # recipe field → value (--base-set)
    tuned: str = ""  # --tuned: "shared" (the shared recipe's runs) or "tuned" (each variant at its chosen values)
    tuned_keys: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # per suite: the tuned fields

    def runs(self, suite: str) -> pd.DataFrame:
        from ..store.identity import code_digest
        from ..store.shards import load_runs_of

        runs = load_runs_of(self.folders, suite)
        if self.rev and not runs.empty:
            code = [code_digest(i) if i else "" for i in runs[PARSED["identity"]]]
            keep = runs["git_sha"].fillna("").str.startswith(self.rev) | pd.Series(
                [c.startswith(self.rev) for c in code], index=runs.index)
            runs = runs[keep]
        if self.tuned and not runs.empty:
            from ..report.tuning import tuned_and_shared

            shared, tuned, self.tuned_keys[suite] = tuned_and_shared(runs)
            runs = shared if self.tuned == "shared" else tuned
        if self.where and not runs.empty:
            recipes = [r or {} for r in runs[PARSED["recipe"]]]
            runs = runs[[all(r.get(k) == v for k, v in self.where.items()) for r in recipes]]
        return runs

    def suites(self) -> set[str]:
        from ..store.shards import suites_in

        return set().union(*(suites_in(f) for f in self.folders))

    @property
    def name(self) -> str:
        """The side as the output names it: its spec, and the recipe fields it was narrowed to."""
        if self.tuned:
            return f"{self.spec} ({'each variant at its tuned values' if self.tuned == 'tuned' else 'shared recipe'})"
        return self.spec + (f" ({', '.join(f'{k}={v}' for k, v in self.where.items())})" if self.where else "")

    def describe(self, runs: pd.DataFrame) -> str:
        from ..report.markdown import plain

        facts = self.facts(runs)  # as markdown: the folder's name and the rows' cells shown as text
        return (f"{plain(self.name)} (git {plain(', '.join(facts['git_shas'])) or '–'}; host "
                f"{plain(', '.join(facts['hosts'])) or '–'}; {facts['runs']} run(s))")

    def facts(self, runs: pd.DataFrame) -> dict:
        """What one suite of this side is made of: its shas, hosts and runs (`--format json` carries them)."""
        return {"git_shas": sorted(set(runs["git_sha"].dropna())), "hosts": sorted(set(runs["host"].dropna())),
                "runs": len(runs), "seeds": sorted(int(s) for s in set(runs["seed"].dropna()))}


def side_of(spec: str, assignments: list[str] = (), flag: str = "--base-set") -> Side:
    """`DIR[,DIR...][@REV]` and its `--base-set`/`--head-set` fields as a Side, or a one-line error naming the folder
    that holds no results."""
    from ..config.recipe import parse_assignment
    from ..store.shards import suites_in

    folders, _, rev = spec.partition("@")
    paths = [Path(f) for f in folders.split(",") if f]
    for folder in paths or [Path(folders)]:
        if not suites_in(folder):
            raise UsageError(f"no results under '{folder}' (from '{spec}'): give a folder `bench run` wrote")
    return Side(spec, paths, rev, dict(parse_assignment(a, flag) for a in assignments))


def compare(options: CompareOptions) -> int:
    from ..store import quarantine
    from ..store.shards import load_predictions_of

    set_aside_before = quarantine.count()  # damaged shards are set aside as they are read (one line each): counted

    if options.factor <= 1:
        raise UsageError(f"--factor {options.factor:g}: give a ratio above 1, e.g. 1.1")
    limits = parse_fail_if(options.fail_if) if options.fail_if else {}
    if options.history:
        if options.head:
            raise UsageError("--history reads one results folder: give BASE only (or drop --history to compare two)")
        return print_history(side_of(options.base), options.history, options.suite, options.format)
    if options.tuned:
        if options.head or options.base_set or options.head_set:
            raise UsageError("--tuned compares the two sides of one results folder: give BASE only, without "
                             "--base-set/--head-set")
        options = dataclasses.replace(options, head=options.base)
    elif not options.head and not (options.base_set or options.head_set):
        raise UsageError("give two sides, BASE and HEAD (e.g. `bench compare results-before results-after`), "
                         "--base-set/--head-set to compare two recipes in one, or --history VARIANT with one")
    base = side_of(options.base, options.base_set)
    head = side_of(options.head or options.base, options.head_set, "--head-set")
    if options.tuned:
        base.tuned, head.tuned = "shared", "tuned"
    ignore = frozenset(f"recipe.{k}" for k in {**base.where, **head.where})
    common = sorted(base.suites() & head.suites())
    if options.suite:
        if options.suite not in common:
            raise UsageError(f"suite '{options.suite}' is not in both sides; both hold: {', '.join(common) or 'none'}")
        common = [options.suite]
    if not common:
        raise UsageError(f"'{base.spec}' and '{head.spec}' hold no suite in common")
    changes: list[Change] = []
    described = {"base": [], "head": []}
    sides: dict[str, dict] = {"base": {}, "head": {}}
    tables = {suite: (base.runs(suite), head.runs(suite)) for suite in common}
    if options.tuned:
        tables = {suite: runs for suite, runs in tables.items() if not runs[1].empty}
        if not tables:
            raise UsageError(f"'{base.spec}' holds no tuning with finished runs at its chosen values: "
                             "`bench run --suite NAME --tune KEY=V1,V2,...` makes one")
        ignore |= {f"recipe.{k}" for suite in tables for k in head.tuned_keys.get(suite, [])}
    if not options.suite:  # every suite both sides hold: those a revision or recipe narrows to nothing drop out
        tables = {suite: runs for suite, runs in tables.items() if not any(r.empty for r in runs)} or tables
    for suite, runs in tables.items():
        if options.tuned and runs[0].empty:
            raise UsageError(f"'{base.spec}' holds no finished run of suite '{suite}' under the shared recipe its "
                             "tuning is compared with: `bench run` with the same flags, without --tune, adds them")
        if any(r.empty for r in runs):
            which = base if runs[0].empty else head
            narrowed = " at that revision" if which.rev else ""
            narrowed += "".join(f" with {k}={v}" for k, v in which.where.items())
            raise UsageError(f"'{which.spec}' holds no run of suite '{suite}'{narrowed}")
        described["base"].append(base.describe(runs[0]))
        described["head"].append(head.describe(runs[1]))
        sides["base"][suite], sides["head"][suite] = base.facts(runs[0]), head.facts(runs[1])

        def predictions(run_ids: list[str], suite: str = suite) -> pd.DataFrame:
            return load_predictions_of(list(dict.fromkeys(base.folders + head.folders)), suite, run_ids)

        for pairing in pair(*runs, ignore=ignore):
            for change in compare_pairing(pairing, predictions):
                change.experiment = f"{suite} — {change.experiment}"
                changes.append(change)
    tests = decide(changes, options.factor)
    quarantine.say_summary(set_aside_before, then="the comparison is of the rest")
    if options.format == "json":
        print(json.dumps({"base": {"name": base.name, "suites": sides["base"]},
                          "head": {"name": head.name, "suites": sides["head"]},
                          "factor": options.factor, "alpha": ALPHA, "family": FAMILY, "tests": tests,
                          "changes": [{**{k: v for k, v in dataclasses.asdict(c).items() if k != "test"},
                                       "symbol": c.symbol} for c in changes]}, indent=2))
    elif options.format == "html":
        from ..report.html import page

        title = f"{base.name} → {head.name}"
        print(page(f"bench compare: {title}", markdown(title, options.factor, described, changes, tests), None, {},
                   kind="bench compare"), end="")  # no pictures
    else:
        print(markdown(f"{base.name} → {head.name}", options.factor, described, changes, tests))
    worse = failures(changes, limits)
    if worse:
        print("\n".join(f"bench compare: worse: {w}" for w in worse), file=sys.stderr)
        return 1
    return 0


def print_history(side: Side, label: str, suite: str | None, fmt: str) -> int:
    from ..report.history import history, history_table

    suites = [suite] if suite else sorted(side.suites())
    found = {s: history(side.runs(s), label) for s in suites}
    found = {s: versions for s, versions in found.items() if versions}
    if not found:
        raise UsageError(f"no ok run of '{label}' under '{side.spec}'" + (f" in suite '{suite}'" if suite else ""))
    if fmt == "json":
        print(json.dumps({s: [dataclasses.asdict(v) for v in versions] for s, versions in found.items()}, indent=2))
        return 0
    from ..report.markdown import plain

    text = "\n".join(f"## {plain(s)} — {plain(label)}, every identity it was run under, oldest first\n\n"
                     f"{history_table(versions)}\n"
                     for s, versions in found.items())
    if fmt == "html":
        from ..report.html import page

        print(page(f"bench compare --history {label}", f"# {plain(label)} across commits\n\n{text}", None, {},
                   kind="bench compare"), end="")
    else:
        print(text)
    return 0


def markdown(title: str, factor: float, described: dict[str, list[str]], changes: list[Change], tests: int) -> str:
    from ..report.markdown import markdown_table, plain

    lines = [f"# bench compare: {plain(title)}", "",  # folder names, revisions, variants, facts: shown as text
             f"base: {'; '.join(dict.fromkeys(described['base']))}  ",
             f"head: {'; '.join(dict.fromkeys(described['head']))}", "",
             "Marks: `+` worse, `-` better, `~` inconclusive, `x` not comparable, `=` same (an exact count that "
             f"did not move, or a difference that two one-sided t-tests show within ±{EQUAL_PP:g} pp or ×{factor:g}). "
             "Every verdict reads one "
             "number per independent run (a seed; for latency with fewer than three runs a side, a measuring "
             "process), never epochs or calls pooled. "
             "Test accuracy: the difference over seeds (paired t where both sides ran the same seeds, else Welch), "
             "with P(head > base); one seed a side is inconclusive. A time, throughput, memory or latency: changed "
             f"only past ×{factor:g} **and** significant by Welch's t on the log per-run values (at least {MIN_RUNS} "
             "a side). Images/s is read from the epoch-time test. McNemar's per-image test describes the two sets of "
             "trained models and decides nothing.",
             "",
             f"**Family:** {family_statement(tests)}; a mark needs an adjusted p under {ALPHA:g}. The equivalence "
             "tests behind `=` are adjusted as a family of their own (for one measure, no change and a change past "
             "the margin cannot both be true). Each test is counted once."]
    for experiment in dict.fromkeys(c.experiment for c in changes):
        mine = [c for c in changes if c.experiment == experiment]
        rows = [[c.symbol, plain(c.variant), c.name, shown(c.base, BY_KEY.get(c.metric)),
                 shown(c.head, BY_KEY.get(c.metric)), change_text(c), plain(c.evidence, code=True)] for c in mine]
        lines += ["", f"## {plain(experiment)}", "",
                  markdown_table(["", "variant", "measure", "base", "head", "change", "evidence"], rows, 3)]
        lines += ["", summary(mine)]
    return "\n".join(lines)


def summary(changes: list[Change]) -> str:
    """How many verdicts of each kind, each test counted once (images/s rides on the epoch-time test)."""
    counted = [c for c in changes if not BY_KEY.get(c.metric) or not BY_KEY[c.metric].same_test_as]
    counts = {mark: sum(c.mark == mark for c in counted) for mark in SYMBOLS}
    return ", ".join(f"{n} {mark}" for mark, n in counts.items() if n) + "."


def shown(value: float | None, m: Metric | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{m.digits}f}" if m else f"{value:g}"


def change_text(c: Change) -> str:
    if c.change is None:
        return "–"
    if c.metric == "accuracy":
        return f"{c.change:+.2f} pp"
    return f"×{c.change:.3f}"


def parse_fail_if(text: str) -> dict[str, float]:
    """`worse:accuracy=0.5,time=1.1` → {"accuracy": 0.5, "time": 1.1}; `latency` stands for both batch sizes."""
    kind, _, rest = text.partition(":")
    keys = list(BY_KEY) + [LATENCY_KEY]
    if kind != "worse" or not rest:
        raise UsageError(f"--fail-if '{text}': write worse:KEY=LIMIT[,KEY=LIMIT], e.g. worse:accuracy=0.5,time=1.1 "
                         f"(keys: {', '.join(keys)})")
    limits = {}
    for part in rest.split(","):
        key, sep, value = part.partition("=")
        try:
            limit = float(value)
        except ValueError:
            limit = None
        if not sep or key.strip() not in keys or limit is None or limit <= 0:
            raise UsageError(f"--fail-if '{text}': '{part}' is not KEY=LIMIT with a KEY of {', '.join(keys)} and a "
                             "LIMIT above 0 (accuracy: percentage points lost; the rest: a ratio, e.g. 1.1)")
        for k in ([m.key for m in COMPARED if m.rule == PROCESSES] if key.strip() == LATENCY_KEY else [key.strip()]):
            limits[k] = limit
    return limits


def failures(changes: list[Change], limits: dict[str, float]) -> list[str]:
    """The changes marked worse beyond their `--fail-if` limit, one sentence each."""
    out = []
    for c in changes:
        if c.mark != WORSE or c.metric not in limits or c.change is None:
            continue
        limit = limits[c.metric]
        if BY_KEY[c.metric].rule == ACCURACY:
            if -c.change >= limit:
                out.append(f"{c.variant} ({c.experiment}): {c.name} {c.change:+.2f} pp, past the {limit:g} pp allowed "
                           f"({c.evidence})")
            continue
        worse_by = c.change if BY_KEY[c.metric].lower_is_better else 1 / c.change
        if worse_by >= limit:
            out.append(f"{c.variant} ({c.experiment}): {c.name} ×{c.change:.3f}, past ×{limit:g} ({c.evidence})")
    return out
