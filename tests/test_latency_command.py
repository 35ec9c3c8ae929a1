"""`bench latency` on a real finished results folder (the shared two-seed shortcut runs): it times each chosen run's
model again in fresh processes, writes one shard per run, and `bench report` and `bench compare` read those
figures in place of the training-time ones, marked as such; stopped or repeated, it resumes."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from bench.store.paths import latency_dir
from bench.store.shards import load_runs
from tests.helpers import bench
from tests.test_report import parse_table

SUITE = "shortcut"


@pytest.fixture(scope="module")
def timed(two_seed_results, tmp_path_factory):
    folder = tmp_path_factory.mktemp("latency") / "results"
    shutil.copytree(two_seed_results, folder)
    done = bench("latency", "--results", str(folder), "--variants", "plain32", "--processes", "3")
    assert done.returncode == 0, done.stderr
    return folder, done


def test_the_chosen_runs_get_a_shard_whose_figures_stand_in_on_reading(timed, two_seed_results):
    folder, done = timed
    before = load_runs(two_seed_results, SUITE).set_index("run_id")
    after = load_runs(folder, SUITE).set_index("run_id")
    plain = after[after["label"] == "plain32"]
    assert sorted(p.stem for p in latency_dir(folder, SUITE).glob("*.parquet")) == sorted(plain.index)
    for run_id, row in plain.iterrows():
        assert row["latency_processes"] == 3 and len(row["latency_ms_b1_per_process"]) == 3
        assert row["latency_ms_b1"] == pytest.approx(float(np.median(row["latency_ms_b1_per_process"])))
        assert row["latency_remeasured_at"] is not None and row["latency_ms_b1"] != before.loc[run_id, "latency_ms_b1"]
        # its own probe of the machine as it timed stands in too; the training's stays the run's
        assert row["latency_machine_tflops"] > 0 and row["latency_machine_tflops"] != row["machine_tflops"]
        assert row["machine_tflops"] == before.loc[run_id, "machine_tflops"]
        assert f"seed {row['seed']}: b1 {row['latency_ms_b1']:.2f} ms (was {before.loc[run_id, 'latency_ms_b1']:.2f})" \
            in done.stderr
    others = after[after["label"] != "plain32"]
    assert others["latency_remeasured_at"].isna().all()  # not chosen: their own figures
    assert (others["latency_ms_b1"] == before.loc[others.index, "latency_ms_b1"]).all()


def test_report_marks_the_timed_again_cells_and_compare_says_so(timed, tmp_path):
    folder, _ = timed
    report = bench("report", "--results", str(folder), "--out", str(tmp_path / "out"))
    assert report.returncode == 0, report.stderr
    markdown = (tmp_path / "out" / f"{SUITE}.md").read_text()
    table = parse_table(markdown, "### Comparison").set_index("variant")
    assert "↻" in table.loc["plain32", "latency b1 (ms)"]
    assert "↻" not in table.loc["resnet32", "latency b1 (ms)"]
    assert "timed again by `bench latency`" in markdown and "in 3 fresh processes" in markdown
    done = bench("compare", str(folder), str(folder), "--format", "json")
    assert done.returncode == 0, done.stderr
    (b1,) = [c for c in json.loads(done.stdout)["changes"] if c["variant"] == "plain32" and c["metric"] == "latency_b1"]
    assert "base and head timed again by `bench latency`" in b1["evidence"] and b1["runs"] == [6, 6]


def test_a_second_call_resumes_and_a_bad_variant_is_one_line(timed):
    folder, _ = timed
    again = bench("latency", "--results", str(folder), "--variants", "plain32")
    assert again.returncode == 0 and "nothing to time" in again.stderr
    bad = bench("latency", "--results", str(folder), "--variants", "plain99")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "plain99" in bad.stderr
    missing = bench("latency", "--results", str(folder / "nowhere"))
    assert missing.returncode == 2 and "no results in" in missing.stderr
