"""Interleaved A/B latency check against a git ref: `make latency-compare BASE=<ref>`.

A single timing of the base and a later one of the head cannot tell a 20 % regression from the machine's
drift on a shared box (up to 1.9x between identical runs here). Like asv's `continuous`, this times both in
one session, alternating round by round (base-head, then head-base), so whatever slows the machine slows
both alike. BASE is checked out into a temporary git worktree; the head is the working tree as it is,
uncommitted edits included. Each side runs `ab_worker.py` in its own process with its own imports and
keeps its models built between rounds.

Per variant the verdict is the ratio of the head's median to the base's over the rounds, with a 95 %
percentile-bootstrap interval over the rounds; a variant fails when the whole interval lies above `--threshold`. A summary
table and the geometric mean close the run; exit 1 on a failure, 2 on bad input.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

WORKER = Path(__file__).with_name("ab_worker.py")
DEFAULT_THRESHOLD = 1.3
BOOTSTRAP_RESAMPLES = 4000


class CompareError(Exception):
    """Bad input: one line, exit 2."""


@dataclass(frozen=True)
class Verdict:
    variant: str
    base_ms: float
    head_ms: float
    ratio: float
    low: float
    high: float
    failed: bool


def bootstrap_ratio(base: list[float], head: list[float], seed: int = 0,
                    resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float, float]:
    """Ratio of medians head/base and its 95 % percentile-bootstrap interval.

    Round i of the base and round i of the head ran back to back, so the bootstrap resamples whole rounds
    (pairs): a round the machine slowed down weighs on both sides at once, as it did when it was measured.
    """
    rng = np.random.default_rng(seed)
    b, h = np.asarray(base, dtype=float), np.asarray(head, dtype=float)
    rounds = rng.integers(0, len(b), (resamples, len(b)))
    low, high = np.percentile(np.median(h[rounds], axis=1) / np.median(b[rounds], axis=1), [2.5, 97.5])
    return float(np.median(h) / np.median(b)), float(low), float(high)


def judge(samples: dict[str, dict[str, list[float]]], threshold: float) -> list[Verdict]:
    """samples[side][variant] -> seconds per round; one verdict per variant both sides have."""
    verdicts = []
    for name in [n for n in samples["head"] if n in samples["base"]]:
        base, head = samples["base"][name], samples["head"][name]
        ratio, low, high = bootstrap_ratio(base, head)
        verdicts.append(Verdict(name, 1000 * statistics.median(base), 1000 * statistics.median(head),
                                ratio, low, high, failed=low > threshold))
    return verdicts


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise CompareError(f"git {' '.join(args)}: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else 'failed'}")
    return done.stdout.strip()


def default_base(repo: Path) -> str:
    """The merge base with main (HEAD itself on main); HEAD when there is no main branch."""
    for main in ("main", "origin/main"):
        if subprocess.run(["git", "rev-parse", "--verify", "--quiet", main], cwd=repo,
                          capture_output=True).returncode == 0:
            return git("merge-base", "HEAD", main, cwd=repo)
    return "HEAD"


class Side:
    """One version's worker process."""

    def __init__(self, label: str, tree: Path, args: argparse.Namespace) -> None:
        self.label, self.tree = label, tree
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), "--batch", str(args.batch), "--size", str(args.size),
             "--calls", str(args.calls), "--threads", str(args.threads)],
            cwd=tree, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        hello = self._read()
        self.variants: list[str] = hello["variants"]
        if not Path(hello["models_file"]).resolve().is_relative_to(tree.resolve()):
            raise CompareError(f"{label}: imported models from {hello['models_file']}, not from {tree}")

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise CompareError(f"the {self.label} worker ({self.tree}) exited with status {self.proc.wait()}: "
                               "see its error above")
        return json.loads(line)

    def round(self) -> dict[str, float]:
        self.proc.stdin.write("round\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def measure(base_tree: Path, head_tree: Path, args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    sides = {}
    try:
        for label, tree in (("base", base_tree), ("head", head_tree)):
            sides[label] = Side(label, tree, args)
        samples = {label: {name: [] for name in side.variants} for label, side in sides.items()}
        for r in tqdm(range(args.rounds), desc="rounds", unit="round", disable=None):
            order = ("base", "head") if r % 2 == 0 else ("head", "base")
            for label in order:
                for name, seconds in sides[label].round().items():
                    samples[label][name].append(seconds)
        return samples
    finally:
        for side in sides.values():
            side.close()


def report(verdicts: list[Verdict], samples: dict, args: argparse.Namespace, base_desc: str) -> int:
    print(f"\nhead (working tree) vs base {base_desc}: {args.rounds} interleaved rounds, batch {args.batch}, "
          f"{args.size} px, {args.threads} thread(s), median of {args.calls} calls per round")
    print(f"{'variant':<26} {'base ms':>9} {'head ms':>9} {'ratio':>7}  {'95% interval':<15} verdict")
    for v in verdicts:
        verdict = (f"FAIL (interval above {args.threshold:g})" if v.failed
                   else "faster" if v.high < 1 / args.threshold else "ok")
        print(f"{v.variant:<26} {v.base_ms:>9.3f} {v.head_ms:>9.3f} {v.ratio:>7.3f}  "
              f"[{v.low:.3f}, {v.high:.3f}]  {verdict}")
    for label, other in (("base", "head"), ("head", "base")):
        only = sorted(set(samples[label]) - set(samples[other]))
        if only:
            print(f"only in {label} (not compared): {', '.join(only)}")
    geomean = statistics.geometric_mean([v.ratio for v in verdicts])
    print(f"geometric mean of the ratios over {len(verdicts)} variants: {geomean:.3f} ({100 * (geomean - 1):+.1f}%)")
    failed = [v.variant for v in verdicts if v.failed]
    if failed:
        print(f"FAIL: {len(failed)} variant(s) slower than {args.threshold:g}x with 95% confidence: {', '.join(failed)}")
        return 1
    print(f"ok: no variant's interval lies above {args.threshold:g}x")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="git ref to compare with (default: the merge base with main)")
    parser.add_argument("--repo", type=Path, default=Path("."), help="the repository (head = its working tree)")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=5, help="forward passes per variant per round (median kept)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help=f"fail when the 95%% interval of head/base lies above this (default {DEFAULT_THRESHOLD})")
    args = parser.parse_args(argv)
    try:
        for flag in ("rounds", "calls", "batch", "size", "threads"):
            if getattr(args, flag) < 1:
                raise CompareError(f"--{flag} must be at least 1, got {getattr(args, flag)}")
        if args.rounds < 5:
            raise CompareError(f"--rounds {args.rounds} is too few for a bootstrap interval: use 5 or more")
        repo = Path(git("rev-parse", "--show-toplevel", cwd=args.repo))
        ref = args.base or default_base(repo)
        found = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=repo,
                               capture_output=True, text=True)
        if found.returncode:
            raise CompareError(f"--base {ref}: not a commit of {repo}; name a branch, tag or commit")
        commit = found.stdout.strip()
        base_desc = f"{ref} ({commit[:10]})" if ref != commit else commit[:10]
        with tempfile.TemporaryDirectory(prefix="latency-compare-") as tmp:
            base_tree = Path(tmp) / "base"
            git("worktree", "add", "--detach", "--quiet", str(base_tree), commit, cwd=repo)
            try:
                samples = measure(base_tree, repo, args)
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=repo,
                               capture_output=True)
        verdicts = judge(samples, args.threshold)
        if not verdicts:
            raise CompareError("the base and the head share no variant: nothing to compare")
        return report(verdicts, samples, args, base_desc)
    except CompareError as error:
        print(f"latency-compare: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("latency-compare: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
