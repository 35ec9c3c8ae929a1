"""SLURM preemption and time limits on the real one-node cluster (scripts/slurm-cluster.sh): a task that SLURM
requeues (an admin's `scontrol requeue`, as a preemption does; or submitit's own requeue at the time limit) runs
again, and its run resumes from its checkpoint and ends with one row, equal to the same run never stopped."""
from __future__ import annotations

import json
import subprocess
import time

import pandas as pd
import pytest

from bench.store.shards import load_epochs, load_predictions, load_runs
from tests.helpers import ONE_FORMAT, bench, running
from tests.test_resume import COMPARED, TOY_RUN, assert_same_tensors, final_state

SLURM = ["--launcher", "slurm", "--slurm-cpus-per-task", "1"]


def task_ids(results) -> list[str]:
    """The array tasks submitted for the results folder, from the manifests `bench run` writes."""
    return [task for manifest in sorted((results / "shortcut" / "slurm").glob("*.json"))
            for task in json.loads(manifest.read_text())["tasks"]]


def epochs_done(results) -> int:
    try:
        return len(load_epochs(results, "shortcut"))
    except Exception:  # no shard yet, or one being replaced
        return 0


HELD_S = 10  # how long a requeued task stays held before the test releases it: its last run must have ended


def held(task: str) -> bool:
    """SLURM holds a requeued job for two minutes (pending, reason BeginTime)."""
    state = subprocess.run(["squeue", "-h", "-j", task, "-o", "%T %r"], capture_output=True, text=True).stdout
    return "PENDING" in state and "BeginTime" in state


def finish(proc, results, until: float) -> tuple[str, str]:
    """Wait for `bench run` to end, releasing its requeued tasks ten seconds into SLURM's two-minute hold (released
    at once, a job can start before its last run is cleaned up, and SLURM fails it: "Job credential revoked")."""
    since: dict[str, float] = {}
    while proc.poll() is None and time.time() < until:
        for task in task_ids(results):
            if not held(task):
                since.pop(task, None)
            elif time.time() - since.setdefault(task, time.time()) > HELD_S:
                subprocess.run(["scontrol", "update", f"JobId={task}", "StartTime=now"], capture_output=True)
                since.pop(task)
        time.sleep(1)
    return proc.communicate(timeout=max(1, until - time.time()))


@pytest.mark.slow
@pytest.mark.slurm
def test_a_preempted_task_is_requeued_and_its_run_ends_as_if_never_stopped(slurm_cluster, tmp_path):
    never, requeued = tmp_path / "never", tmp_path / "requeued"
    args = [*TOY_RUN, "--epochs", "40", *ONE_FORMAT, *SLURM]  # side by side, so a shared probe cannot be
    with running(*args, "--results", str(never)) as reference, running(*args, "--results", str(requeued)) as proc:
        deadline = time.time() + 300
        while epochs_done(requeued) < 2 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        (task,) = task_ids(requeued)
        preempted = subprocess.run(["scontrol", "requeue", task], capture_output=True, text=True)
        assert preempted.returncode == 0, preempted.stderr
        out, err = finish(proc, requeued, time.time() + 400)
        assert proc.returncode == 0, err
        reference_out, reference_err = reference.communicate(timeout=400)
        assert reference.returncode == 0, reference_err
    (row,) = load_runs(requeued, "shortcut").to_dict("records")  # one row: the requeued task took its place
    (expected,) = load_runs(never, "shortcut").to_dict("records")
    assert row["status"] == "ok" and row["epochs_run"] == 40, row["error"]
    (after,) = row["resumed_after_epochs"]
    assert 2 <= after < 40 and list(expected["resumed_after_epochs"]) == []
    assert row["test_acc"] == expected["test_acc"] and list(row["confusion"]) == list(expected["confusion"])
    epochs = load_epochs(requeued, "shortcut").sort_values("epoch")[COMPARED].to_numpy().tolist()
    assert epochs == load_epochs(never, "shortcut").sort_values("epoch")[COMPARED].to_numpy().tolist()
    predictions = load_predictions(requeued, "shortcut", [row["run_id"]]).sort_values("index")
    reference_predictions = load_predictions(never, "shortcut", [expected["run_id"]]).sort_values("index")
    assert (predictions["predicted"].to_numpy() == reference_predictions["predicted"].to_numpy()).all()
    assert_same_tensors(final_state(requeued), final_state(never))


@pytest.mark.slow
@pytest.mark.slurm
def test_at_its_time_limit_a_task_is_requeued_once_then_its_run_is_a_timeout(slurm_cluster, tmp_path):
    """--slurm-time 1 --slurm-requeues 1: SLURM's warning (SIGUSR2) → submitit's checkpoint → requeue → the run
    resumes → the warning again, with no requeue left: the run is `timeout`, having resumed once."""
    args = [*TOY_RUN, "--epochs", "100000", *SLURM, "--slurm-time", "1", "--slurm-requeues", "1", "--results",
            str(tmp_path)]
    with running(*args) as proc:
        out, err = finish(proc, tmp_path, time.time() + 420)
    assert proc.returncode == 1, err
    (row,) = load_runs(tmp_path, "shortcut").to_dict("records")
    assert row["status"] == "timeout" and "SLURM time limit" in row["error"], row["error"]
    (after,) = row["resumed_after_epochs"]
    assert 1 <= after < row["epochs_run"]
    epochs = load_epochs(tmp_path, "shortcut")
    assert sorted(epochs["epoch"]) == list(range(1, row["epochs_run"] + 1))  # none twice, none lost
    assert not pd.isna(row["checkpoint_s"])
