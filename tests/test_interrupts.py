"""Ctrl-C at each moment of a run's life — while its worker starts, imports, loads data, warms up, trains, tests,
writes — leaves exactly one row for the run, and `bench run` exits 130 without a traceback. No test here depends on
how fast the machine is: the worker itself has its runner interrupted at the named moment (BENCH_TEST_SIGNAL_AT,
bench.worker.start.phase), through the same path a Ctrl-C takes."""
from __future__ import annotations

import os
import signal
import time

import pytest

from bench.store.shards import load_epochs, load_runs
from tests.helpers import bench, running, worker_children

RUN = ["run", "--device", "cpu", "--suite", "shortcut", "--variants", "plain32", "--dataset", "fake", "--epochs", "2",
       "--batch-size", "32"]
# moment → (the run's status, epochs it finished): a signal while the row is written cannot undo a finished run.
MOMENTS = {"start": ("interrupted", 0), "data": ("interrupted", 0), "warm-up": ("interrupted", 0),
           "epoch": ("interrupted", 1), "test": ("interrupted", 2), "writing": ("ok", 2)}


@pytest.mark.slow
@pytest.mark.parametrize("moment", list(MOMENTS))
def test_an_interrupt_at_each_moment_leaves_exactly_one_row(tmp_path, moment):
    result = bench(*RUN, "--results", str(tmp_path), env={"BENCH_TEST_SIGNAL_AT": moment})
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    runs = load_runs(tmp_path, "shortcut")
    assert len(runs) == 1, runs
    status, epochs = MOMENTS[moment]
    row = runs.iloc[0]
    assert (row["status"], row["epochs_run"]) == (status, epochs)
    assert len(load_epochs(tmp_path, "shortcut")) == epochs  # every finished epoch kept, none half-written


def test_an_interrupt_as_the_worker_is_spawned_leaves_exactly_one_row(tmp_path):
    """Ctrl-C the moment the worker process exists (before Python has even started in it): the child is started
    with Ctrl-C and SIGTERM blocked until its own handlers are in place, so the signal is noted, never a traceback."""
    with running(*RUN, "--results", str(tmp_path)) as proc:
        deadline = time.time() + 300
        while not worker_children(proc.pid) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.002)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130 and "Traceback" not in err, err
    (row,) = load_runs(tmp_path, "shortcut").to_dict("records")
    assert row["status"] == "interrupted" and row["epochs_run"] == 0


def test_a_run_stopped_before_its_first_epoch_leaves_no_tensorboard_folder(tmp_path):
    """TensorBoard's writer is made at the first thing written: nothing logged, no folder to mistake for a run."""
    result = bench(*RUN, "--results", str(tmp_path), "--tensorboard", str(tmp_path / "tb"),
                   env={"BENCH_TEST_SIGNAL_AT": "warm-up"})
    assert result.returncode == 130, result.stderr
    assert not (tmp_path / "tb").exists() or not any(p.is_file() for p in (tmp_path / "tb").rglob("*"))
