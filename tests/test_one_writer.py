"""One live writer per run: the worker training a run holds its identity's lock (bench.store.lock); the same command
started again while the first is mid-run skips the live run naming its process, runs the rest, and loses or
overwrites no row; a lock left by a killed process is taken over, saying so. Real `bench` processes, real flock."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from torch import nn

from bench.store import lock
from bench.store.shards import load_runs
from tests.helpers import bench, running, worker_children
from tests.toy_models import tiny_cnn

SLEEP_S = 0.15  # per training step: a run that lasts, without taking the cores from the other tests


class Sleepy(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x):
        if self.training:
            time.sleep(SLEEP_S)
        return self.inner(x)


def sleepy_cnn(num_classes: int = 10) -> nn.Module:
    """tiny_cnn, each training step slowed by SLEEP_S."""
    return Sleepy(tiny_cnn(num_classes))


SLOW_RUN = ["run", "--suite", "shortcut", "--variants", "tests.test_one_writer:sleepy_cnn", "--dataset", "digits",
            "--epochs", "5", "--batch-size", "64", "--device", "cpu", "--seeds", "2"]
QUICK_RUN = ["run", "--suite", "shortcut", "--variants", "tests.toy_models:tiny_cnn", "--dataset", "digits",
             "--epochs", "2", "--batch-size", "64", "--device", "cpu"]


def worker_spec(pid: int) -> dict:
    """The run spec a worker process was started with (its one argument), read from /proc."""
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return json.loads(f.read().split(b"\0")[3])


def wait_for_worker(runner: subprocess.Popen, timeout_s: float = 300) -> int:
    """The pid of the runner's worker once it holds its run's lock."""
    deadline = time.time() + timeout_s
    while time.time() < deadline and runner.poll() is None:
        for pid in worker_children(runner.pid):
            spec = worker_spec(pid)
            locks = Path(spec["results"]) / spec["suite"] / "locks"
            if any(f'"pid": {pid}' in p.read_text() for p in locks.glob("*.lock")):
                return pid
        time.sleep(0.05)
    raise AssertionError(f"no worker of {runner.pid} took a lock in {timeout_s} s")


HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from bench.store.lock import acquire
    held = acquire(Path(sys.argv[1]))
    print("held", flush=True)
    time.sleep(600)
""")


def test_a_lock_is_held_by_a_live_process_only_and_taken_over_after_a_kill(tmp_path, capsys):
    path = tmp_path / "locks" / "abc.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        found = lock.held_by(path)
        assert found is not None and found.pid == holder.pid and found.host == socket.gethostname()
        assert lock.acquire(path) == found  # after RACE_S of trying: the holder, not the lock
    finally:
        holder.kill()
        holder.wait()
    assert lock.held_by(path) is None  # the kernel let go with the process
    taken = lock.acquire(path)
    assert isinstance(taken, lock.RunLock)
    said = capsys.readouterr().err
    assert f"taking over the lock of pid {holder.pid} on" in said and len(said.strip().splitlines()) == 1
    assert json.loads(path.read_text())["pid"] == os.getpid()
    taken.release()
    assert path.read_text() == "" and lock.held_by(path) is None
    again = lock.acquire(path)  # released, not left: nothing to take over
    assert isinstance(again, lock.RunLock) and capsys.readouterr().err == ""
    again.release()


@pytest.mark.parametrize("content", ['{"pid": "1\\n2", "host": 3}', "\0\0\n", '{"pid": 7, "host": "a\\nb", '
                                     '"since": "now"}'])
def test_a_hostile_lock_note_is_shown_on_one_line_or_not_at_all(tmp_path, capsys, content):
    path = tmp_path / "x.lock"
    path.write_text(content)
    taken = lock.acquire(path)
    said = capsys.readouterr().err
    assert isinstance(taken, lock.RunLock) and len(said.strip().splitlines()) <= 1
    taken.release()


@pytest.mark.slow
def test_the_same_command_started_twice_skips_the_live_run_and_loses_no_row(tmp_path):
    """Two seeds; the second command starts while the first trains seed 0: it skips seed 0 naming the first one's
    worker, trains seed 1 itself; the first, reaching seed 1, finds it held or finished and writes nothing for it.
    At the end: one ok row per seed, seed 0's from the first command's worker, none overwritten."""
    with running(*SLOW_RUN, "--results", str(tmp_path)) as first:
        worker = wait_for_worker(first)
        first_spec = worker_spec(worker)
        assert first_spec["seed"] == 0
        second = bench(*SLOW_RUN, "--results", str(tmp_path))
        out, err = first.communicate(timeout=600)
    assert second.returncode == 0 and "Traceback" not in second.stderr, second.stderr
    assert f"seed 0: skip (being run by pid {worker} on {socket.gethostname()}" in second.stderr, second.stderr
    assert first.returncode == 0 and "Traceback" not in err, err
    assert "seed 1: not run here" in err, err  # held by the second command's worker, or finished by it
    runs = load_runs(tmp_path, "shortcut").sort_values("seed")
    assert list(runs["seed"]) == [0, 1] and list(runs["status"]) == ["ok", "ok"], runs[["run_id", "seed", "status"]]
    assert runs["run_id"].iloc[0] == first_spec["run_id"]
    assert runs["finished_at"].notna().all() and runs["run_id"].is_unique


@pytest.mark.slow
def test_a_lock_left_by_a_killed_worker_is_taken_over_by_the_next_command(tmp_path):
    killed = bench(*QUICK_RUN, "--results", str(tmp_path), env={"BENCH_TEST_SIGNAL_AT": "epoch:1:kill"})
    assert killed.returncode != 0 and "Traceback" not in killed.stderr, killed.stderr
    (path,) = (tmp_path / "shortcut" / "locks").glob("*.lock")
    dead = json.loads(path.read_text())["pid"]  # the note of a holder that never released it
    with pytest.raises(ProcessLookupError):
        os.kill(dead, 0)
    again = bench(*QUICK_RUN, "--results", str(tmp_path))
    assert again.returncode == 0, again.stderr
    assert f"taking over the lock of pid {dead} on" in again.stderr, again.stderr
    (row,) = load_runs(tmp_path, "shortcut").to_dict("records")
    assert row["status"] == "ok" and list(row["resumed_after_epochs"]) == [1]
    assert path.read_text() == ""  # released as the run ended
