"""Fan-out: the local pool (`--jobs`) with its isolation record, and `--launcher slurm` on a real one-node SLURM
cluster (Debian's slurm-wlm and munge, started by scripts/slurm-cluster.sh for the session)."""
from __future__ import annotations

import json
import signal
import subprocess
import time

import pandas as pd
import pytest

from bench.measure.isolation import Marker, clash, overlapping, parse_ranges, ranges
from bench.store.shards import load_runs
from tests.helpers import ONE_FORMAT, bench, running

SMALL = ["--dataset", "fake", "--epochs", "1", "--batch-size", "32", "--device", "cpu", *ONE_FORMAT]  # runs compared
PAIR = ["--suite", "shortcut", "--variants", "plain32,resnet32"]


def test_core_sets_and_slots_clash_as_written():
    assert ranges([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8" and parse_ranges("0-2,5,7-8") == {0, 1, 2, 5, 7, 8}
    assert clash("cpu:0-3", "cpu:3-5") and not clash("cpu:0-1", "cpu:2-3")
    assert clash("cuda:1", "cuda:1") and not clash("cuda:0", "cuda:1") and not clash("cuda:0", "cpu:0")


def test_overlap_is_by_time_host_and_slot():
    mine = Marker("a", "h", "cpu:0-1", 1, "2026-01-01T00:00:10+00:00", "2026-01-01T00:00:20+00:00")
    others = [Marker("during", "h", "cpu:1", 1, "2026-01-01T00:00:15+00:00", "2026-01-01T00:00:30+00:00"),
              Marker("before", "h", "cpu:0-1", 1, "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:09+00:00"),
              Marker("elsewhere", "other", "cpu:0-1", 1, "2026-01-01T00:00:12+00:00", "2026-01-01T00:00:18+00:00"),
              Marker("other-cores", "h", "cpu:2-3", 1, "2026-01-01T00:00:12+00:00", "2026-01-01T00:00:18+00:00")]
    assert overlapping(mine, others) == ["during"]


@pytest.fixture(scope="module")
def serial_and_pooled(tmp_path_factory):
    """The same two runs one after the other, and two at once (--jobs 2)."""
    serial, pooled = tmp_path_factory.mktemp("serial"), tmp_path_factory.mktemp("pooled")
    start = time.monotonic()
    one = bench("run", *PAIR, *SMALL, "--results", str(serial))
    serial_s = time.monotonic() - start
    two = bench("run", *PAIR, *SMALL, "--results", str(pooled), "--jobs", "2")
    return serial, pooled, one, two, serial_s


@pytest.mark.slow
def test_jobs_2_on_the_cpu_records_one_thread_each_and_the_sharing(serial_and_pooled, tmp_path):
    import os

    serial, pooled, one, two, _ = serial_and_pooled
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    runs = load_runs(pooled, "shortcut").set_index("label")
    cores = len(os.sched_getaffinity(0))
    assert (runs["num_threads"] == max(1, cores // 2)).all()
    assert runs["contended"].all()  # both trained at once on the same cores
    assert runs.loc["plain32", "contended_with"].tolist() == [runs.loc["resnet32", "run_id"]]
    alone = load_runs(serial, "shortcut")
    assert not alone["contended"].any() and (alone["host"] == runs["host"].iloc[0]).all()
    assert bench("report", "--suite", "shortcut", "--results", str(pooled), "--out", str(tmp_path)).returncode == 0
    report = (tmp_path / "shortcut.md").read_text()
    assert "Every run of this experiment shared its device or cores" in report and "‡" in report


@pytest.mark.parametrize("args, message", [
    (["--jobs", "0"], "argument --jobs: 0 is too small"),
    (["--gpus", "0"], "--gpus needs a CUDA device"),
    (["--detach"], "--detach needs --launcher slurm"),
])
def test_bad_fan_out_flags_are_one_line(tmp_path, args, message):
    result = bench("run", *PAIR, *SMALL, "--results", str(tmp_path), *args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_slurm_without_sbatch_is_one_line(tmp_path):
    result = bench("run", *PAIR, *SMALL, "--results", str(tmp_path), "--launcher", "slurm",
                   env={"PATH": "/nonexistent"} | {})
    assert result.returncode == 2 and "sbatch not found" in result.stderr and "Traceback" not in result.stderr


def squeue(job: str) -> list[str]:
    return subprocess.run(["squeue", "-h", "-j", job, "-o", "%i %t"], capture_output=True, text=True).stdout.split("\n")


def job_id(stderr: str) -> str:
    return stderr.split("submitted SLURM job array ")[1].split(":")[0]


@pytest.mark.slow
@pytest.mark.slurm
def test_slurm_runs_equal_the_local_ones(slurm_cluster, serial_and_pooled, tmp_path):
    _, pooled, *_ = serial_and_pooled
    result = bench("run", *PAIR, *SMALL, "--results", str(tmp_path), "--launcher", "slurm",
                   "--slurm-cpus-per-task", "1", "--slurm-time", "10")
    assert result.returncode == 0, result.stderr
    there = load_runs(tmp_path, "shortcut").set_index("label")
    here = load_runs(pooled, "shortcut").set_index("label")  # one thread each, as the tasks had
    assert (there["status"] == "ok").all() and (there["num_threads"] == 1).all()
    for column in ("test_acc", "best_val_acc", "train_loss"):
        if column in there:
            assert there[column].tolist() == here.loc[there.index, column].tolist(), column
    assert list((tmp_path / "shortcut" / "slurm").glob("*/*_log.out"))  # submitit's logs where the README says


@pytest.mark.slow
@pytest.mark.slurm
def test_ctrl_c_cancels_the_array_and_the_same_command_resumes(slurm_cluster, tmp_path):
    args = ["run", "--suite", "shortcut", "--variants", "plain32,resnet32,resnet47-bottleneck", *SMALL,
            "--results", str(tmp_path), "--launcher", "slurm", "--slurm-array-parallelism", "1"]
    # SIGINT inherited ignored (a script's background job; CI found the waiting runner deaf to it): still cancels
    with running(*args, sigint_ignored=True) as proc:
        deadline = time.time() + 300
        while time.time() < deadline and not (tmp_path / "shortcut" / "runs").is_dir():
            time.sleep(0.5)
        runs_dir = tmp_path / "shortcut" / "runs"
        while time.time() < deadline and not any(runs_dir.glob("*.parquet")):
            time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    array = job_id(err)
    assert squeue(array) == [""], squeue(array)  # nothing of the array is left queued or running
    first = load_runs(tmp_path, "shortcut")
    assert (first["status"] == "ok").sum() >= 1 and set(first["status"]) <= {"ok", "interrupted"}
    assert (first["status"] == "interrupted").sum() >= 1
    done_before = set(first.loc[first["status"] == "ok", "run_id"])
    again = bench(*args)
    assert again.returncode == 0, again.stderr
    after = load_runs(tmp_path, "shortcut")
    ok = after[after["status"] == "ok"]
    assert sorted(ok["label"]) == ["plain32", "resnet32", "resnet47-bottleneck"]
    assert done_before <= set(ok["run_id"])  # the finished run was skipped, not redone
    assert "skip (done at" in again.stderr


@pytest.mark.slow
@pytest.mark.slurm
def test_scancel_of_one_task_and_detach_then_status_and_report(slurm_cluster, tmp_path, tmp_path_factory):
    result = bench("run", "--suite", "shortcut", "--variants", "plain32,resnet47-bottleneck", *SMALL,
                   "--epochs", "200", "--results", str(tmp_path), "--launcher", "slurm", "--detach",
                   "--slurm-cpus-per-task", "1")
    assert result.returncode == 0, result.stderr
    array = job_id(result.stderr)
    assert f"bench status --suite shortcut --results {tmp_path}" in result.stdout
    # Task 0 (plain32) runs first; under `pytest -n N` the test cluster has cores / N CPUs (nproc), so task 1 may
    # wait for it: it is cancelled while running, task 1 wherever it is (200 epochs would take minutes).
    deadline = time.time() + 120
    while time.time() < deadline and f"{array}_0 R" not in squeue(array):
        time.sleep(0.5)
    assert f"{array}_0 R" in squeue(array), squeue(array)
    status = bench("status", "--results", str(tmp_path))
    assert f"SLURM job {array}:" in status.stdout, status.stdout
    subprocess.run(["scancel", f"{array}_0"], check=True)
    subprocess.run(["scancel", f"{array}_1"], check=True)
    while time.time() < deadline + 60 and squeue(array) != [""]:
        time.sleep(0.5)
    status = bench("status", "--results", str(tmp_path))
    runs = load_runs(tmp_path, "shortcut").set_index("label")
    for variant in ("plain32", "resnet47-bottleneck"):  # cancelled running, and running or pending
        assert runs.loc[variant, "status"] == "failed", runs[["status", "error"]]
        assert "SLURM state CANCELLED" in runs.loc[variant, "error"]
    assert "failed" in status.stdout and "SLURM state CANCELLED" in status.stdout
    out = tmp_path_factory.mktemp("report")  # outside the results folder, as bench report requires
    report = bench("report", "--suite", "shortcut", "--results", str(tmp_path), "--out", str(out))
    assert report.returncode == 0 and (out / "shortcut.md").is_file(), report.stderr


@pytest.mark.slurm
def test_an_unknown_partition_is_slurms_refusal_in_one_line(slurm_cluster, tmp_path):
    result = bench("run", *PAIR, *SMALL, "--results", str(tmp_path), "--launcher", "slurm",
                   "--slurm-partition", "nosuchpartition")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "invalid partition" in result.stderr.lower() and result.stderr.strip().count("\n") == 0, result.stderr


@pytest.mark.gpu
@pytest.mark.parametrize("args, message", [
    (["--jobs", "2", "--gpus", "0"], "would put two timed runs on one GPU"),
    (["--jobs", "1", "--gpus", "97"], "no GPU 97 here"),
])
def test_bad_gpu_pools_are_one_line(tmp_path, args, message):
    result = bench("run", *PAIR, "--dataset", "fake", "--epochs", "1", "--device", "cuda", "--results",
                   str(tmp_path), *args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
