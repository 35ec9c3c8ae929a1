"""`bench report --results A --results B --results C`: folders of several machines read as one. A run found in two
folders (a copy) counts once, another device is a section of its own, and the runs table names each run's host.
Rows in the real parquet format, with values chosen here."""
from __future__ import annotations

import shutil

import numpy as np

from bench.store.paths import runs_dir
from tests.helpers import bench
from tests.test_experiments import BASE, OTHER, SUITE, write_run
from tests.test_report import parse_table, section


def test_three_folders_merge_with_a_duplicated_run_counted_once(tmp_path):
    a, b, c = (tmp_path / name for name in ("a", "b", "c"))
    shared = write_run(a, BASE, 0, 0.90, plateaued=True, host="alpha")
    write_run(a, OTHER, 0, 0.92, plateaued=True, host="alpha")
    runs_b = runs_dir(b, SUITE)
    runs_b.mkdir(parents=True)
    shutil.copy(runs_dir(a, SUITE) / f"{shared.run_id}.parquet", runs_b)  # the same run, copied to B
    write_run(b, BASE, 1, 0.94, plateaued=True, host="beta")
    write_run(c, OTHER, 1, 0.96, plateaued=True, host="gamma")
    write_run(c, BASE, 0, 0.50, plateaued=True, host="gpu-node", device="cuda")  # another device: its own section
    done = bench("report", "--results", str(a), "--results", str(b), "--results", str(c), "--out", str(tmp_path / "o"))
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "o" / f"{SUITE}.md").read_text()
    assert "Read from 3 results folders" in text and "holds 2 experiments" in text
    cpu = section(text, "batch 64, cpu")
    table = parse_table(cpu, "### Comparison").set_index("variant")
    assert table.loc[BASE, "n"] == "2" and table.loc[OTHER, "n"] == "2"  # seed 0 of BASE once, not twice
    assert table.loc[BASE, "test acc (%)"] == f"{np.mean([90, 94]):.2f} ± {np.std([90, 94], ddof=1):.2f}"
    runs = parse_table(cpu, "### Runs")
    assert sorted(zip(runs["variant"], runs["seed"], runs["host"])) == [
        (BASE, "0", "alpha"), (BASE, "1", "beta"), (OTHER, "0", "alpha"), (OTHER, "1", "gamma")]
    assert "50.00" not in parse_table(cpu, "### Comparison").to_string()  # the GPU run stays out of the CPU means
    gpu = parse_table(section(text, "batch 64, cuda"), "### Runs")
    assert list(zip(gpu["variant"], gpu["host"])) == [(BASE, "gpu-node")]
