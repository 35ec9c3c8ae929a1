"""The regression checks behind `make instructions-check` and `make latency-compare`.

The Callgrind collection itself takes minutes (importing torch under valgrind), so it runs in `make
instructions`, not here; these tests cover the comparison of saved counts, the bootstrap verdict (against
scipy's own bootstrap) and the interleaved A/B end to end on a toy repository: a real git worktree and two
real worker processes.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from tests.benchmarks import instructions, latency_compare


def counts_file(path: Path, counts: dict[str, int], **extra) -> dict:
    data = {"counts": counts, "torch": "2.14.1", "machine": "Linux-CPython-3.11-x86_64", "input_size": 32,
            "batch_size": 1, "threads": 1, "valgrind": "valgrind-3.19.0", **extra}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return data


def test_instruction_check_names_exactly_the_variants_past_the_threshold():
    base = {"counts": {"a": 1_000_000, "b": 2_000_000, "c": 3_000_000, "gone": 5}, "torch": "2.14.1"}
    new = {"counts": {"a": 1_020_001, "b": 2_039_999, "c": 2_000_000, "fresh": 7}, "torch": "2.14.1"}
    lines, failed = instructions.compare(base, new, threshold_pct=2.0)
    assert failed == ["a"]  # +2.0001 % fails, +1.99995 % passes, fewer instructions never fail
    table = "\n".join(lines)
    assert "1,000,000" in table and "1,020,001" in table and "1.0200" in table
    assert "not in the new counts: gone" in table and "fresh" in table


def test_instruction_check_says_when_the_setups_differ():
    base = {"counts": {"a": 10}, "torch": "2.13.0"}
    lines, failed = instructions.compare(base, {"counts": {"a": 10}, "torch": "2.14.1"}, 2.0)
    assert failed == [] and any("torch differs (2.13.0 in the baseline, 2.14.1 now)" in line for line in lines)


def test_the_newest_saved_counts_are_the_baseline(tmp_path):
    older = tmp_path / "m" / "0001_instructions.json"
    counts_file(older, {"a": 1})
    first = instructions.save({"counts": {"a": 2}, "machine": "m"}, tmp_path)
    second = instructions.save({"counts": {"a": 3}, "machine": "m"}, tmp_path)
    assert (first.name, second.name) == ("0002_instructions.json", "0003_instructions.json")
    assert instructions.latest(tmp_path) == second


def test_instruction_check_without_a_baseline_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tests.benchmarks.instructions", "check", "--storage",
                           str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "run 'make instructions' first" in done.stderr


@pytest.mark.parametrize("shift", [1.0, 1.5])
def test_bootstrap_interval_matches_scipy(shift):
    rng = np.random.default_rng(1)
    base = list(rng.lognormal(np.log(0.010), 0.08, 20))
    head = list(shift * rng.lognormal(np.log(0.010), 0.08, 20))
    ratio, low, high = latency_compare.bootstrap_ratio(base, head)
    reference = stats.bootstrap((np.array(head), np.array(base)),  # paired: rounds resampled as wholes
                                lambda h, b, axis=-1: np.median(h, axis=axis) / np.median(b, axis=axis),
                                paired=True, n_resamples=4000, method="percentile",
                                random_state=0).confidence_interval
    assert ratio == pytest.approx(np.median(head) / np.median(base))
    assert low == pytest.approx(reference.low, abs=0.02) and high == pytest.approx(reference.high, abs=0.02)
    verdict = latency_compare.judge({"base": {"v": base}, "head": {"v": head}}, threshold=1.3)[0]
    assert verdict.failed == (shift == 1.5)


TOY_MODELS = '''
import time
from dataclasses import dataclass

import torch
from torch import nn

SLEEP_S = {{"steady": 0.002, "sleepy": {sleepy}}}


@dataclass(frozen=True)
class Variant:
    name: str


class Toy(nn.Module):
    def __init__(self, name):
        super().__init__()
        self.name, self.fc = name, nn.Linear(3, 10)

    def forward(self, x):
        time.sleep(SLEEP_S[self.name])
        return self.fc(x.mean((2, 3)))


def list_variants():
    return [Variant(name) for name in SLEEP_S]


def build(name, num_classes):
    return Toy(name)
'''


def test_latency_compare_fails_the_slowed_variant_only(tmp_path):
    repo = tmp_path / "repo"
    (repo / "models").mkdir(parents=True)
    (repo / "models" / "__init__.py").write_text(TOY_MODELS.format(sleepy=0.002))
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    (repo / "models" / "__init__.py").write_text(TOY_MODELS.format(sleepy=0.008))  # the head: 4x slower
    done = subprocess.run([sys.executable, "-m", "tests.benchmarks.latency_compare", "--repo", str(repo),
                           "--base", "HEAD", "--rounds", "5", "--calls", "2"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith(("steady", "sleepy"))}
    assert "FAIL" in rows["sleepy"] and "FAIL" not in rows["steady"], done.stdout
    assert "FAIL: 1 variant(s)" in done.stdout and done.stdout.rstrip().endswith("sleepy")
    listed = subprocess.run([*git, "worktree", "list"], capture_output=True, text=True).stdout
    assert len(listed.strip().splitlines()) == 1, listed  # the temporary worktree is gone


def test_latency_compare_refuses_an_unknown_ref(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    done = subprocess.run([sys.executable, "-m", "tests.benchmarks.latency_compare", "--repo", str(tmp_path),
                           "--base", "no-such-ref"], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no-such-ref" in done.stderr, done.stderr


def test_machine_drift_shared_by_a_round_does_not_hide_a_slowdown():
    rng = np.random.default_rng(2)
    drift = np.where(np.arange(20) % 3 == 0, 3.0, 1.0)  # every third round the machine is 3x slower for both
    base = drift * rng.lognormal(np.log(0.010), 0.03, 20)
    head = 1.5 * drift * rng.lognormal(np.log(0.010), 0.03, 20)
    ratio, low, high = latency_compare.bootstrap_ratio(list(base), list(head))
    assert 1.3 < low < ratio < high < 1.7
    assert latency_compare.judge({"base": {"v": list(base)}, "head": {"v": list(base)}}, 1.3)[0].ratio == 1.0
