"""`bench run --launcher slurm`: the pending runs of one invocation as one SLURM job array, through submitit.

Each array task runs `Task()(spec_json)` on its node, which starts the same worker process as a local run
(bench.launch.process.launch) and writes the same shards into the shared results folder. The parent waits with a
progress bar fed by the finished shards, and reads SLURM's state of each task (sacct when the cluster keeps
accounting, else squeue and scontrol) to give a run that SLURM ended (time limit, scancel, node failure) a
row with status `timeout` or `failed` and the SLURM state in `error`. A manifest per submission
(`<results>/<suite>/slurm/<job id>.json`) lets `bench status` and a later `bench run` do the same after
`--detach` (bench.launch.slurm_states).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.argtypes import at_least, option
from ..core.errors import UsageError
from ..plan.options import RunOptions
from ..plan.spec import RunSpec
from ..store.paths import slurm_folder, slurm_logs, slurm_manifest
from ..store.status import Status
from .base import Launched, LauncherKind, Settle, Todo
from .process import STOP_GRACE_S, forward_signals, restore_signals
from .slurm_states import ACTIVE_STATES, reconcile, states, write_missing

POLL_S = 2.0


@dataclass
class SlurmOptions:
    """The SLURM launcher's options, each a `--slurm-...` flag of `bench run` (bench.core.argtypes.option)."""

    partition: str | None = option(None, "SLURM partition (default: the cluster's default)", metavar="NAME")
    time_min: int = option(60, "time limit per task in minutes (default %(default)s); a run past it gets status "
                           "timeout", flag="--slurm-time", type=at_least(1), metavar="MINUTES")
    gpus_per_task: int | None = option(None, "GPUs per task", type=at_least(0), metavar="N")
    cpus_per_task: int | None = option(None, "CPU cores per task (also the run's thread count)", type=at_least(1),
                                       metavar="N")
    mem: str | None = option(None, "memory per task, as sbatch takes it (e.g. 8G)", metavar="SIZE")
    array_parallelism: int = option(256, "at most N tasks of the array at once (default %(default)s)",
                                    type=at_least(1), metavar="N")
    extra: list[str] = option([], "any other sbatch parameter, passed to submitit's additional parameters "
                              "(repeatable)", action="append", metavar="KEY=VALUE")
    requeues: int = option(3, "times a task stopped by its time limit is requeued to resume its run from the last "
                           "finished epoch (default %(default)s; 0: the run ends as timeout)", type=at_least(0),
                           metavar="N")
    detach: bool = option(False, "with --launcher slurm: submit, print the job id and how to follow it, and return",
                          flag="--detach", action="store_true")


def executor(logs: Path, options: SlurmOptions):
    """A submitit SlurmExecutor with the flags' parameters; a missing sbatch is a one-line error."""
    if shutil.which("sbatch") is None:
        raise UsageError("--launcher slurm: sbatch not found on PATH; run on a SLURM login node, or use "
                         "--launcher local")
    try:
        import submitit
    except ImportError:
        raise UsageError("--launcher slurm needs submitit: pip install 'bench[slurm]'") from None
    logging.getLogger("submitit").setLevel(logging.ERROR)  # it warns on every poll of a cluster without sacct
    extra = {}
    for item in options.extra:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--slurm-extra '{item}': give KEY=VALUE, e.g. --slurm-extra qos=high")
        extra[key.strip().replace("-", "_")] = value.strip()
    ex = submitit.SlurmExecutor(folder=str(logs), max_num_timeout=options.requeues)
    params = {"time": options.time_min, "array_parallelism": options.array_parallelism,
              "signal_delay_s": min(90, max(5, options.time_min * 6)), "additional_parameters": extra}
    for key, value in (("partition", options.partition), ("gpus_per_task", options.gpus_per_task),
                       ("cpus_per_task", options.cpus_per_task), ("mem", options.mem)):
        if value is not None:
            params[key] = value
    ex.update_parameters(**params)
    return ex


def child_gone(pid: int) -> bool:
    """The process has ended (a zombie not yet reaped counts as ended), read from /proc without reaping it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


class Task:
    """One array task, on its node: the worker in a child process, as locally; its row is written whatever happens.

    A submitit checkpointable (it has `checkpoint`): when SLURM warns of the time limit (SIGUSR2, asked for by
    submitit) or the job is preempted, submitit calls `checkpoint`, which stops the worker as a Ctrl-C stops it (its
    row and its rolling checkpoint stay, bench.worker.resume), and requeues the task, which then resumes the run
    after its last finished epoch. Past --slurm-requeues time limits the run is given the status `timeout`."""

    def __init__(self) -> None:
        self.child = None  # the worker now running (a Popen), for `checkpoint`

    def __call__(self, spec_json: str) -> int:
        from submitit.core.utils import UncompletedJobError

        from .endings import settle, stopped
        from .process import launch

        spec = RunSpec.from_json(spec_json)  # a CPU run's threads are its cores per task (Slurm.threads)
        try:
            ended = launch(spec, on_spawn=lambda child: setattr(self, "child", child))
        except UncompletedJobError:  # submitit's word that the time limit came once too often: no more requeues
            task_id = (f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID')}"
                       if os.environ.get("SLURM_ARRAY_JOB_ID") else os.environ.get("SLURM_JOB_ID", "?"))
            stopped(spec, Status.TIMEOUT.value, f"reached the SLURM time limit of task {task_id} "
                    "(--slurm-time, after --slurm-requeues requeues; SLURM state TIMEOUT)")
            return 0
        settle(spec, ended, 1, 1, None)
        return ended.code

    def checkpoint(self, spec_json: str):
        """Called by submitit's signal handler: stop the worker (SIGTERM to its group: it writes its row and keeps
        its checkpoint), then hand submitit the same call to requeue."""
        from submitit.helpers import DelayedSubmission

        child = self.child
        if child is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
            deadline = time.time() + STOP_GRACE_S
            while not child_gone(child.pid) and time.time() < deadline:
                time.sleep(0.1)
            with contextlib.suppress(ProcessLookupError):
                if not child_gone(child.pid):
                    os.killpg(child.pid, signal.SIGKILL)
        return DelayedSubmission(Task(), spec_json)  # a fresh Task: the running child is not pickled


@contextlib.contextmanager
def redirected_stderr(into):
    """File descriptor 2 (where submitit's sbatch writes) into `into` for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(into.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def submit(specs: list[RunSpec], options: SlurmOptions) -> tuple[str, list]:
    """Submit `specs` as one array; write the manifest; return the array's job id and submitit's jobs."""
    results, suite = Path(specs[0].results), specs[0].suite
    slurm_folder(results, suite).mkdir(parents=True, exist_ok=True)
    ex = executor(slurm_logs(results, suite), options)
    with tempfile.TemporaryFile(mode="w+") as said, redirected_stderr(said):
        try:
            jobs = ex.map_array(Task(), [s.to_json() for s in specs])
            refusal = None
        except Exception as exc:  # sbatch's own refusal (an unknown partition, a bad time), in one line
            refusal = exc
        said.seek(0)
        text = said.read() + (str(refusal) if refusal else "")
    if refusal is not None:
        lines = [line.strip() for line in text.splitlines() if "error" in line.lower()] or text.splitlines()
        raise UsageError(f"sbatch refused the job array: {lines[0] if lines else refusal}")
    array_id = jobs[0].job_id.split("_")[0]
    manifest = {"job_id": array_id, "tasks": {j.job_id: s.to_json() for j, s in zip(jobs, specs)},
                "cancelled_by_user": False, "submitted_at": time.time()}
    slurm_manifest(results, suite, array_id).write_text(json.dumps(manifest))
    return array_id, jobs


def wait(array_id: str, jobs: list, specs: list[RunSpec]) -> bool:
    """Wait for every task, with a progress bar fed by the finished shards. Ctrl-C cancels the array through
    submitit and records the unfinished runs as interrupted. True when interrupted."""
    from tqdm import tqdm

    from ..store.paths import runs_dir
    from ..store.shards import load_runs

    results, suite = Path(specs[0].results), specs[0].suite
    manifest_path = slurm_manifest(results, suite, array_id)
    task_ids = [j.job_id for j in jobs]
    bar = tqdm(total=len(specs), desc=f"SLURM job {array_id}", unit="run", file=sys.stderr, disable=None)
    last_active = time.time()
    try:
        while True:
            rows = set(load_runs(results, suite)["run_id"]) if runs_dir(results, suite).is_dir() else set()
            finished = sum(s.run_id in rows for s in specs)
            bar.update(finished - bar.n)
            if any(state in ACTIVE_STATES for state in states(task_ids).values()):
                last_active = time.time()
            elif finished == len(specs) or time.time() - last_active > 30:
                break  # every task ended (one that left no row is given one below)
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        bar.close()
        print(f"\ncancelling SLURM job {array_id} ...", file=sys.stderr)
        manifest = json.loads(manifest_path.read_text())
        manifest["cancelled_by_user"] = True
        manifest_path.write_text(json.dumps(manifest))
        for job in jobs:
            job.cancel(check=False)
        deadline = time.time() + 60  # running tasks' workers get SIGTERM and write their own rows
        while time.time() < deadline and any(s in ACTIVE_STATES for s in states(task_ids).values()):
            time.sleep(1)
        write_missing(specs, Status.INTERRUPTED, "the waiting `bench run` was stopped and cancelled the SLURM job")
        return True
    bar.close()
    for line in reconcile(manifest_path):
        print(line, file=sys.stderr)
    write_missing(specs, Status.FAILED, f"SLURM job {array_id}: the task ended without a row")
    return False


class Slurm:
    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.slurm: SlurmOptions = options.launcher_options or SlurmOptions()

    def check(self, device: str) -> None:
        pass  # --jobs and --gpus with slurm are refused by `bench run` before planning

    def threads(self, device: object) -> int | None:
        """A CPU task trains with its cores per task (1 unless --slurm-cpus-per-task)."""
        return (self.slurm.cpus_per_task or 1) if getattr(device, "type", str(device)) == "cpu" else None

    def run(self, todo: Todo, total: int, settle: Settle, eta: object = None) -> Launched:  # SLURM paces itself
        if not todo:
            return Launched()
        chosen = [spec for _, spec in todo]
        array_id, jobs = submit(chosen, self.slurm)
        print(f"submitted SLURM job array {array_id}: {len(chosen)} run(s); logs in "
              f"{slurm_folder(Path(chosen[0].results), chosen[0].suite)}/{array_id}*/", file=sys.stderr)
        if self.slurm.detach:
            return Launched(detached=array_id)
        previous = forward_signals()  # Ctrl-C or SIGTERM cancels the array, even where SIGINT came in ignored
        try:
            return Launched(interrupted=wait(array_id, jobs, chosen))
        finally:
            restore_signals(previous)


LAUNCHER = LauncherKind("slurm", "one SLURM job array through submitit", SlurmOptions, Slurm)
