"""Suite-wide latency check: the geometric mean of current/baseline medians over every benchmark.

pytest-benchmark's `--benchmark-compare-fail` judges each benchmark alone, so its threshold must sit above
the per-benchmark noise of a shared machine (a few benchmarks drift 50% between identical runs here). Noise
averages out over the ~30 benchmarks, so a uniform slowdown of the code or the machine shows in their
geometric mean long before any single benchmark crosses its own threshold.
Run by `make latency-check` after pytest: `python -m tests.benchmarks.compare_latency CURRENT.json`.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path


def latest_saved(storage: Path) -> Path:
    """The newest run saved by `--benchmark-save` (files are NNNN_name.json, in a folder per machine)."""
    saved = sorted(storage.glob("*/[0-9][0-9][0-9][0-9]_*.json"), key=lambda p: (p.name[:4], p.stat().st_mtime))
    if not saved:
        raise SystemExit(f"no saved baseline under {storage}/: run 'make latency' first")
    return saved[-1]


def medians(path: Path) -> dict[str, float]:
    return {b["fullname"]: b["stats"]["median"] for b in json.loads(path.read_text())["benchmarks"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("current", type=Path, help="pytest-benchmark JSON of the run to check")
    parser.add_argument("--baseline", type=Path, help="saved run to compare with (default: the latest)")
    parser.add_argument("--storage", type=Path, default=Path(".benchmarks"))
    parser.add_argument("--threshold", type=float, default=40.0, help="fail above this geometric-mean slowdown, in %%")
    args = parser.parse_args(argv)

    baseline_path = args.baseline or latest_saved(args.storage)
    base, now = medians(baseline_path), medians(args.current)
    common = sorted(set(base) & set(now))
    if not common:
        raise SystemExit(f"no benchmark of {args.current} is in the baseline {baseline_path}")
    ratios = [now[name] / base[name] for name in common]
    geomean = statistics.geometric_mean(ratios)
    slowest = max(zip(ratios, common))
    print(f"baseline {baseline_path} vs {args.current}: {len(common)} benchmarks")
    print(f"median latency ratio, geometric mean: {geomean:.3f} ({100 * (geomean - 1):+.1f}%); "
          f"spread {min(ratios):.3f}..{max(ratios):.3f}; slowest {slowest[1].split('::')[-1]} ×{slowest[0]:.2f}")
    limit = 1 + args.threshold / 100
    if geomean > limit or math.isnan(geomean):
        print(f"FAIL: overall slowdown {100 * (geomean - 1):+.1f}% exceeds the {args.threshold:.0f}% threshold")
        return 1
    print(f"ok: within the {args.threshold:.0f}% threshold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
