"""The suite-wide latency check on pytest-benchmark JSON files written in its real format."""
from __future__ import annotations

import json

from tests.benchmarks.compare_latency import main


def write_run(path, medians: dict[str, float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine_info": {}, "benchmarks": [
        {"name": n, "fullname": f"tests/benchmarks/test_latency.py::{n}", "stats": {"median": m, "min": m}}
        for n, m in medians.items()]}))


def test_uniform_slowdown_past_threshold_fails_and_noise_passes(tmp_path, capsys):
    base = {"a": 1.0, "b": 2.0, "c": 4.0}
    write_run(tmp_path / "store" / "Linux" / "0001_latency.json", {"a": 9.0, "b": 9.0, "c": 9.0})  # older
    write_run(tmp_path / "store" / "Linux" / "0002_latency.json", base)  # the latest saved: the baseline
    write_run(tmp_path / "noisy.json", {"a": 1.5, "b": 1.6, "c": 4.4})  # ratios 1.5, 0.8, 1.1: (1.32)^(1/3) = 1.097
    write_run(tmp_path / "slow.json", {k: v * 1.5 for k, v in base.items()})
    assert main([str(tmp_path / "noisy.json"), "--storage", str(tmp_path / "store"), "--threshold", "40"]) == 0
    assert "geometric mean: 1.097" in capsys.readouterr().out
    assert main([str(tmp_path / "slow.json"), "--storage", str(tmp_path / "store"), "--threshold", "40"]) == 1
    assert "+50.0% exceeds the 40% threshold" in capsys.readouterr().out


def test_a_benchmark_slower_in_every_process_fails_by_name_and_process_noise_passes(tmp_path, capsys):
    """Three processes a side: `b` planted 3× slower in each fails alone (past the ×2.5 factor and significant over
    processes); `a`, 2.6× slower in one process only, is the spread of processes and does not."""
    rng = [1.0, 1.04, 0.97]
    for i, jitter in enumerate(rng):
        write_run(tmp_path / "store" / "Linux" / f"000{i + 1}_latency.json", {"a": 1.0 * jitter, "b": 2.0 * jitter,
                                                                               "c": 4.0 * jitter})
    current = []
    for i, jitter in enumerate((1.02, 0.99, 1.01)):
        current.append(tmp_path / f"now-{i}.json")
        write_run(current[-1], {"a": (2.6 if i == 0 else 1.0) * jitter, "b": 6.0 * jitter, "c": 4.0 * jitter})
    code = main([*map(str, current), "--storage", str(tmp_path / "store"), "--threshold", "80"])
    out = capsys.readouterr().out
    assert code == 1 and "FAIL: b ×3.0" in out and "FAIL: a" not in out and "3 test(s) made" in out
