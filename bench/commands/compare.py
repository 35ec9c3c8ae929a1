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
from ..report.compare import BY_KEY, FACTOR, RANK_P, SYMBOLS, WORSE, Change, Measure, compare_pairing, pair

FORMATS = ("markdown", "json")


@dataclass
class CompareOptions:
    base: str = option(None, "the runs before: a results folder, or DIR@REV for its runs of one git sha or harness "
                       "code digest (a prefix)", flag="base", metavar="BASE")
    head: str | None = option(None, "the runs after, written the same way (not with --history)", flag="head",
                              metavar="HEAD", nargs="?")
    history: str | None = option(None, "instead of two sides: every identity VARIANT was run under in BASE, oldest "
                                 "first, each with its git sha, results and what changed since the one before",
                                 metavar="VARIANT")
    suite: str | None = option(None, "only this suite (default: every suite both sides hold)")
    factor: float = option(FACTOR, "a time, throughput, latency or memory ratio counts as a change only past this "
                           "factor (default %(default)s)", type=float)
    format: str = option("markdown", "markdown (default) or json", choices=FORMATS)
    fail_if: str | None = option(None, "exit 1 when a variant got worse past a limit: worse:accuracy=0.5,time=1.1 "
                                 "(accuracy in percentage points lost; time, throughput, memory, latency, macs, params "
                                 "as ratios)", metavar="worse:KEY=LIMIT,...")


@dataclass
class Side:
    """One side of the comparison: its folder, the revision it is narrowed to, and its tables per suite."""

    spec: str
    folder: Path
    rev: str

    def runs(self, suite: str) -> pd.DataFrame:
        from ..core.hashing import digest
        from ..store.shards import load_runs

        runs = load_runs(self.folder, suite)
        if self.rev and not runs.empty:
            code = [digest(json.loads(i).get("code", {})) if isinstance(i, str) and i else "" for i in runs["identity"]]
            keep = runs["git_sha"].fillna("").str.startswith(self.rev) | pd.Series(
                [c.startswith(self.rev) for c in code], index=runs.index)
            runs = runs[keep]
        return runs

    def describe(self, runs: pd.DataFrame) -> str:
        shas = ", ".join(sorted(set(runs["git_sha"].dropna()))) or "–"
        hosts = ", ".join(sorted(set(runs["host"].dropna()))) or "–"
        return f"`{self.spec}` (git {shas}; host {hosts}; {len(runs)} run(s))"


def side_of(spec: str) -> Side:
    from ..store.shards import suites_in

    folder, _, rev = spec.partition("@")
    if not suites_in(Path(folder)):
        raise UsageError(f"no results under '{folder}' (from '{spec}'): give a folder `bench run` wrote")
    return Side(spec, Path(folder), rev)


def compare(options: CompareOptions) -> int:
    from ..store.shards import load_epochs, load_predictions, suites_in

    if options.factor <= 1:
        raise UsageError(f"--factor {options.factor:g}: give a ratio above 1, e.g. 1.1")
    limits = parse_fail_if(options.fail_if) if options.fail_if else {}
    if options.history:
        if options.head:
            raise UsageError("--history reads one results folder: give BASE only (or drop --history to compare two)")
        return print_history(side_of(options.base), options.history, options.suite, options.format)
    if not options.head:
        raise UsageError("give two sides, BASE and HEAD (e.g. `bench compare results-before results-after`), or "
                         "--history VARIANT with one")
    base, head = side_of(options.base), side_of(options.head)
    common = sorted(set(suites_in(base.folder)) & set(suites_in(head.folder)))
    if options.suite:
        if options.suite not in common:
            raise UsageError(f"suite '{options.suite}' is not in both folders; both hold: {', '.join(common) or 'none'}")
        common = [options.suite]
    if not common:
        raise UsageError(f"'{base.folder}' and '{head.folder}' hold no suite in common")
    changes: list[Change] = []
    described = {"base": [], "head": []}
    for suite in common:
        runs = base.runs(suite), head.runs(suite)
        if any(r.empty for r in runs):
            which = base if runs[0].empty else head
            raise UsageError(f"'{which.spec}' holds no run of suite '{suite}'" + (" at that revision" if which.rev else ""))
        described["base"].append(base.describe(runs[0]))
        described["head"].append(head.describe(runs[1]))
        epochs = load_epochs(base.folder, suite), load_epochs(head.folder, suite)

        def predictions(run_ids: list[str], suite: str = suite) -> pd.DataFrame:
            return pd.concat([load_predictions(base.folder, suite, run_ids),
                              load_predictions(head.folder, suite, run_ids)]).drop_duplicates(["run_id", "index"])

        for pairing in pair(*runs):
            for change in compare_pairing(pairing, epochs, predictions, options.factor):
                change.experiment = f"{suite} — {change.experiment}"
                changes.append(change)
    if options.format == "json":
        print(json.dumps({"base": options.base, "head": options.head, "factor": options.factor, "rank_p": RANK_P,
                          "changes": [{**dataclasses.asdict(c), "symbol": c.symbol} for c in changes]}, indent=2))
    else:
        print(markdown(options, described, changes))
    worse = failures(changes, limits)
    if worse:
        print("\n".join(f"bench compare: worse: {w}" for w in worse), file=sys.stderr)
        return 1
    return 0


def print_history(side: Side, label: str, suite: str | None, fmt: str) -> int:
    from ..report.history import history
    from ..report.markdown import markdown_table
    from ..store.shards import suites_in

    suites = [suite] if suite else suites_in(side.folder)
    found = {s: history(side.runs(s), label) for s in suites}
    found = {s: versions for s, versions in found.items() if versions}
    if not found:
        raise UsageError(f"no ok run of '{label}' under '{side.spec}'" + (f" in suite '{suite}'" if suite else ""))
    if fmt == "json":
        print(json.dumps({s: [dataclasses.asdict(v) for v in versions] for s, versions in found.items()}, indent=2))
        return 0
    for s, versions in found.items():
        rows = [[str(i), v.made, v.git_sha, v.code, str(v.runs), v.test_acc, v.epoch_time_s, "; ".join(v.changed)]
                for i, v in enumerate(versions, 1)]
        print(f"## {s} — {label}, every identity it was run under, oldest first\n")
        print(markdown_table(["#", "made (UTC)", "git sha", "code digest", "runs", "test acc (%)", "epoch time (s)",
                              "what changed since the row before"], rows, 4))
        print()
    return 0


def markdown(options: CompareOptions, described: dict[str, list[str]], changes: list[Change]) -> str:
    from ..report.markdown import markdown_table

    lines = [f"# bench compare: {options.base} → {options.head}", "",
             f"base: {'; '.join(dict.fromkeys(described['base']))}  ",
             f"head: {'; '.join(dict.fromkeys(described['head']))}", "",
             "Marks: `+` worse, `-` better, `~` not significant, `x` not comparable, `=` same. A time, throughput, "
             f"latency or memory counts as changed only past ×{options.factor:g}, and a time or throughput only when "
             f"its per-epoch samples also differ (Mann–Whitney p < {RANK_P:g}); test accuracy by its 95% interval over "
             "seeds, else by the per-image McNemar test (p < 0.05)."]
    for experiment in dict.fromkeys(c.experiment for c in changes):
        mine = [c for c in changes if c.experiment == experiment]
        rows = [[c.symbol, c.variant, c.name, shown(c.base, BY_KEY.get(c.metric)), shown(c.head, BY_KEY.get(c.metric)),
                 change_text(c), c.evidence] for c in mine]
        lines += ["", f"## {experiment}", "",
                  markdown_table(["", "variant", "measure", "base", "head", "change", "evidence"], rows, 3)]
        counts = {mark: sum(c.mark == mark for c in mine) for mark in SYMBOLS}
        lines += ["", ", ".join(f"{n} {mark}" for mark, n in counts.items() if n) + "."]
    return "\n".join(lines)


def shown(value: float | None, m: Measure | None) -> str:
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
    keys = list(BY_KEY) + ["latency"]
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
        for k in ("latency_b1", "latency_bN") if key.strip() == "latency" else (key.strip(),):
            limits[k] = limit
    return limits


def failures(changes: list[Change], limits: dict[str, float]) -> list[str]:
    """The changes marked worse beyond their `--fail-if` limit, one sentence each."""
    out = []
    for c in changes:
        if c.mark != WORSE or c.metric not in limits or c.change is None:
            continue
        limit = limits[c.metric]
        if c.metric == "accuracy":
            if -c.change >= limit:
                out.append(f"{c.variant} ({c.experiment}): {c.name} {c.change:+.2f} pp, past the {limit:g} pp allowed "
                           f"({c.evidence})")
            continue
        worse_by = c.change if BY_KEY[c.metric].lower_is_better else 1 / c.change
        if worse_by >= limit:
            out.append(f"{c.variant} ({c.experiment}): {c.name} ×{c.change:.3f}, past ×{limit:g} ({c.evidence})")
    return out
