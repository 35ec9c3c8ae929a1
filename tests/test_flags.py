"""Numbers that say when they are noisy: a latency whose IQR exceeds a quarter of its median, a batch-1 latency above
the larger batch's, and timings taken while other processes kept the machine busy, on rows written in the real
format; and the machine's load read from /proc, in its real format and under real busy processes."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from bench.measure.isolation import other_load_reader
from tests.test_experiments import BASE, OTHER, report_of, write_run
from tests.test_report import parse_table

B1, B32 = "latency b1 (ms)", "latency b32 (ms)"


def comparison(tmp_path, base: dict, other: dict):
    results = tmp_path / "r"
    write_run(results, BASE, 0, 0.95, plateaued=True, **base)
    write_run(results, OTHER, 0, 0.95, plateaued=True, **other)
    text = report_of(results, tmp_path)
    return parse_table(text, "### Comparison").set_index("variant"), text


def test_a_latency_whose_iqr_exceeds_a_quarter_of_its_median_is_marked_with_it(tmp_path):
    # 8.00 ms with an IQR of 2.10 (26%) is noise; 2.00 ms with 0.50 (exactly 25%) is not
    table, text = comparison(tmp_path, {"latency_ms_b1": 2.0, "latency_ms_b1_iqr": 0.5, "latency_ms_bN": 9.0,
                                        "latency_ms_bN_iqr": 0.1},
                             {"latency_ms_b1": 2.0, "latency_ms_b1_iqr": 0.1, "latency_ms_bN": 8.0,
                              "latency_ms_bN_iqr": 2.1})
    assert table.loc[BASE, B1] == "2.00" and table.loc[BASE, B32] == "9.00"
    assert table.loc[OTHER, B1] == "2.00" and table.loc[OTHER, B32] == "8.00 ⚠ IQR 2.10"
    assert "⚠ IQR: a forward latency whose interquartile range over its timed calls exceeds 25% of its median" in text
    assert "spread over seeds exceeds" not in text  # that note is for the seed spread, which is not the case here


def test_a_batch_1_latency_above_the_larger_batch_marks_both(tmp_path):
    # the case: timm:resnet18d 704 ms at batch 1 and 222 ms at batch 32
    table, text = comparison(tmp_path, {}, {"latency_ms_b1": 704.0, "latency_ms_b1_iqr": 10.0, "latency_ms_bN": 222.0,
                                            "latency_ms_bN_iqr": 5.0})
    assert table.loc[OTHER, B1] == "704.00 ⚠ b1 > b32" and table.loc[OTHER, B32] == "222.00 ⚠ b1 > b32"
    assert table.loc[BASE, B1] == "2.00"  # the helper's 2 ms and 9 ms: in order
    assert "b1 > b32: a run that timed one image slower than a batch of 32" in text


def test_timings_of_a_busy_machine_are_marked_and_the_rest_not(tmp_path):
    table, text = comparison(tmp_path, {"load_per_core": 0.3, "loaded": False}, {"load_per_core": 2.4, "loaded": True})
    for column in ("epoch time (s)", "images/s", B1, B32):
        assert table.loc[OTHER, column].endswith("⚠ busy") and "⚠" not in table.loc[BASE, column]
    assert "⚠" not in table.loc[OTHER, "test acc (%)"] and "⚠" not in table.loc[OTHER, "params (M)"]
    assert "⚠ busy: 1 run(s) trained while other processes kept 1 or more runnable thread(s) per core" in text


def fake_proc(root, running: int, threads: list[str]):
    """A /proc in its real format: /proc/stat's procs_running line, and this process's threads' stat files."""
    (root / "self" / "task").mkdir(parents=True)
    (root / "stat").write_text(f"cpu  1 2 3 4 5 6 7 0 0 0\nctxt 123\nprocs_running {running}\nprocs_blocked 0\n")
    for i, state in enumerate(threads):
        (root / "self" / "task" / str(100 + i)).mkdir()
        (root / "self" / "task" / str(100 + i) / "stat").write_text(f"{100 + i} (py (worker) x) {state} 1 2 3\n")
    return root


def test_the_load_reader_counts_other_processes_runnable_threads_per_core(tmp_path):
    cores = os.cpu_count() or 1
    read = other_load_reader(fake_proc(tmp_path / "p", 7, ["R", "S", "R", "D"]))
    assert read() == pytest.approx((7 - 2) / cores)  # two of ours were runnable: the rest are others'
    assert other_load_reader(tmp_path / "nowhere") is None


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="Linux /proc")
def test_real_busy_processes_read_as_load():
    cores = os.cpu_count() or 1
    read = other_load_reader()
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2 * cores + 1)]
    try:
        time.sleep(1.0)
        samples = [read() for _ in range(20) if not time.sleep(0.05)]
    finally:
        for p in busy:
            p.kill()
            p.wait()
    assert sorted(samples)[len(samples) // 2] >= 1.0  # 2 × cores + 1 spinning processes: at least 2 per core
