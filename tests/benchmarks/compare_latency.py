"""The latency check over separate processes: per benchmark, and as the geometric mean over every benchmark.

`make latency` and `make latency-check` run pytest-benchmark in LATENCY_PROCESSES separate processes, one JSON
file each: the calls of one process share its allocator, address layout and machine state, so one process's median
is one independent value (pyperf's idea). Per benchmark, the baseline's per-process medians are compared with the
current ones by the harness's own rules (bench.report.verdicts: the ratio of medians past the per-benchmark factor
**and** Welch's t on the log per-process medians, every benchmark one Benjamini–Hochberg family; fewer than three
processes a side: no per-benchmark verdict). Noise averages out over the ~30 benchmarks, so a uniform slowdown of
the code or the machine shows in the geometric mean of the ratios long before any single benchmark's own.
Run by `make latency-check`: `python -m tests.benchmarks.compare_latency CURRENT-1.json CURRENT-2.json ...`.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path


def latest_saved(storage: Path, processes: int = 1) -> list[Path]:
    """The newest `processes` runs saved by `--benchmark-save` (NNNN_name.json, in a folder per machine): the
    processes of the latest `make latency`."""
    saved = sorted(storage.glob("*/[0-9][0-9][0-9][0-9]_*.json"), key=lambda p: (p.name[:4], p.stat().st_mtime))
    if not saved:
        raise SystemExit(f"no saved baseline under {storage}/: run 'make latency' first")
    return saved[-processes:]


def medians(path: Path) -> dict[str, float]:
    return {b["fullname"]: b["stats"]["median"] for b in json.loads(path.read_text())["benchmarks"]}


def per_process(paths: list[Path]) -> dict[str, list[float]]:
    """Benchmark → the median of each process (file) that ran it."""
    found: dict[str, list[float]] = {}
    for path in paths:
        for name, median in medians(path).items():
            found.setdefault(name, []).append(median)
    return found


def main(argv: list[str] | None = None) -> int:
    from bench.report.verdicts import WORSE, control, describe, family_statement, ratio_test, verdict

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("current", type=Path, nargs="+", help="pytest-benchmark JSON of each process to check")
    parser.add_argument("--baseline", type=Path, nargs="+",
                        help="saved runs to compare with (default: the latest, as many as the current processes)")
    parser.add_argument("--storage", type=Path, default=Path(".benchmarks"))
    parser.add_argument("--threshold", type=float, default=40.0, help="fail above this geometric-mean slowdown, in %%")
    parser.add_argument("--single-threshold", type=float, default=150.0,
                        help="fail a benchmark marked slower past this, in %% (with a test over processes)")
    args = parser.parse_args(argv)

    baseline_paths = args.baseline or latest_saved(args.storage, len(args.current))
    base, now = per_process(baseline_paths), per_process(args.current)
    common = sorted(set(base) & set(now))
    if not common:
        raise SystemExit(f"no benchmark of {args.current[0]} is in the baseline {baseline_paths[0]}")
    tests = {name: ratio_test(base[name], now[name], ("process", "processes")) for name in common}
    made = control(list(tests.values()))
    factor = 1 + args.single_threshold / 100
    ratios = [tests[name].estimate for name in common]
    geomean = statistics.geometric_mean(ratios)
    slowest = max(zip(ratios, common))
    print(f"baseline {', '.join(map(str, baseline_paths))} ({len(baseline_paths)} process(es)) vs "
          f"{len(args.current)} process(es): {len(common)} benchmarks; {family_statement(made)}")
    print(f"median latency ratio, geometric mean: {geomean:.3f} ({100 * (geomean - 1):+.1f}%); "
          f"spread {min(ratios):.3f}..{max(ratios):.3f}; slowest {slowest[1].split('::')[-1]} ×{slowest[0]:.2f}")
    slower = [name for name in common if verdict(tests[name], lower_is_better=True, factor=factor) == WORSE]
    for name in slower:
        print(f"FAIL: {name.split('::')[-1]} ×{tests[name].estimate:.2f}, past ×{factor:g} ({describe(tests[name])})")
    limit = 1 + args.threshold / 100
    if geomean > limit or math.isnan(geomean):
        print(f"FAIL: overall slowdown {100 * (geomean - 1):+.1f}% exceeds the {args.threshold:.0f}% threshold")
        return 1
    if slower:
        return 1
    print(f"ok: within the {args.threshold:.0f}% threshold overall, and no benchmark marked slower past ×{factor:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
