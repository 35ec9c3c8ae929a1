"""`bench run --launcher slurm`: the pending runs of one invocation as one SLURM job array, through submitit.

Each array task runs `task(spec_json)` on its node, which starts the same worker process as a local run
(bench.runner.launch) and writes the same shards into the shared results folder. The parent waits with a
progress bar fed by the finished shards, and reads SLURM's state of each task (sacct when the cluster keeps
accounting, else squeue and scontrol) to give a run that SLURM ended (time limit, scancel, node failure) a
row with status `timeout` or `failed` and the SLURM state in `error`. A manifest per submission
(`<results>/<suite>/slurm/<job id>.json`) lets `bench status` and a later `bench run` do the same after
`--detach`.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import Terminated, UsageError
from .spec import RunSpec
from .status import Status
from .store import load_runs, now, runs_dir, write_shard

POLL_S = 2.0
ACTIVE_STATES = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED"}
TIMEOUT_STATES = {"TIMEOUT", "DEADLINE"}
FAILED_STATES = {"CANCELLED", "NODE_FAIL", "FAILED", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL"}


@dataclass
class SlurmOptions:
    partition: str | None = None
    time_min: int = 60
    gpus_per_task: int | None = None
    cpus_per_task: int | None = None
    mem: str | None = None
    array_parallelism: int = 256
    extra: list[str] = field(default_factory=list)  # KEY=VALUE, submitit's additional sbatch parameters
    detach: bool = False


def slurm_folder(results: Path, suite: str) -> Path:
    return results / suite / "slurm"


def executor(folder: Path, options: SlurmOptions):
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
    ex = submitit.SlurmExecutor(folder=str(folder / "%j"))
    params = {"time": options.time_min, "array_parallelism": options.array_parallelism,
              "signal_delay_s": min(90, max(5, options.time_min * 6)), "additional_parameters": extra}
    for key, value in (("partition", options.partition), ("gpus_per_task", options.gpus_per_task),
                       ("cpus_per_task", options.cpus_per_task), ("mem", options.mem)):
        if value is not None:
            params[key] = value
    ex.update_parameters(**params)
    return ex


class TimeLimit(Terminated):
    """SLURM's warning that the task's time is nearly up (SIGUSR2, asked for by submitit)."""


def task(spec_json: str) -> int:
    """One array task, on its node: the worker in a child process, as locally; its row is written whatever happens."""
    from .runner import launch, record_ending, settle

    spec = RunSpec.from_json(spec_json)  # a CPU run's threads are its cores per task (runner.run_threads)
    warned: list[bool] = []

    def time_limit(signum: int, frame: object) -> None:
        warned.append(True)
        raise TimeLimit

    # submitit asks SLURM for SIGUSR2 shortly before the time limit and would end this process at once; instead the
    # worker is stopped as a Ctrl-C stops it (its row keeps the finished epochs) and the run is marked `timeout`.
    signal.signal(signal.SIGUSR2, time_limit)
    ended = launch(spec)
    if warned:
        task_id = (f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID')}"
                   if os.environ.get("SLURM_ARRAY_JOB_ID") else os.environ.get("SLURM_JOB_ID", "?"))
        record_ending(spec, Status.TIMEOUT.value, f"reached the SLURM time limit of task {task_id} "
                      "(--slurm-time; SLURM state TIMEOUT)")
        return 0
    settle(spec, ended, 1, 1, None)
    return ended.code


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
    folder = slurm_folder(results, suite)
    folder.mkdir(parents=True, exist_ok=True)
    ex = executor(folder, options)
    with tempfile.TemporaryFile(mode="w+") as said, redirected_stderr(said):
        try:
            jobs = ex.map_array(task, [s.to_json() for s in specs])
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
    (folder / f"{array_id}.json").write_text(json.dumps(manifest))
    return array_id, jobs


def states(task_ids: list[str]) -> dict[str, str]:
    """SLURM's state of each array task (`<array>_<index>`): sacct where accounting is kept, else squeue for
    live tasks and scontrol for ended ones (kept for MinJobAge). Unknown tasks are left out."""
    found: dict[str, str] = {}
    arrays = sorted({t.split("_")[0] for t in task_ids})
    done = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(arrays)],
                          capture_output=True, text=True)
    if done.returncode == 0 and done.stdout.strip():
        for line in done.stdout.splitlines():
            job, _, state = line.partition("|")
            found[job] = state.split()[0] if state else "UNKNOWN"
    else:
        for array in arrays:
            shown = subprocess.run(["scontrol", "show", "job", "-o", array], capture_output=True, text=True)
            for line in shown.stdout.splitlines():
                fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
                if "ArrayTaskId" not in fields:  # a single run goes as a plain job, not an array
                    found[fields.get("JobId", "")] = fields.get("JobState", "UNKNOWN")
                elif "_" not in fields["ArrayTaskId"]:
                    index = fields["ArrayTaskId"]
                    if index.isdigit():
                        found[f"{fields['ArrayJobId']}_{index}"] = fields.get("JobState", "UNKNOWN")
                    else:  # pending tasks shown as one line: 0-3%2 or 2,3
                        for part in index.split("%")[0].split(","):
                            low, _, high = part.partition("-")
                            for i in range(int(low), int(high or low) + 1):
                                found[f"{fields['ArrayJobId']}_{i}"] = fields.get("JobState", "PENDING")
    return {t: found[t] for t in task_ids if t in found}


def reconcile(manifest_path: Path) -> list[str]:
    """Rows for the tasks SLURM ended: `timeout` for its time limit, `failed` for a cancel or a node failure, with
    the SLURM state in `error`; a task that left no row gets one. Returns a line per changed run."""
    from .worker import new_row

    manifest = json.loads(manifest_path.read_text())
    specs = {t: RunSpec.from_json(s) for t, s in manifest["tasks"].items()}
    if not specs:
        return []
    first = next(iter(specs.values()))
    runs = load_runs(Path(first.results), first.suite)
    by_id = {r["run_id"]: r for r in runs.to_dict("records")} if not runs.empty else {}
    changed = []
    for task_id, state in states(list(specs)).items():
        spec, row = specs[task_id], by_id.get(specs[task_id].run_id)
        if state in ACTIVE_STATES or (row is not None and row["status"] in (Status.OK.value, Status.TIMEOUT.value)):
            continue
        if state in TIMEOUT_STATES:
            status = Status.TIMEOUT.value
        elif state in FAILED_STATES and not manifest.get("cancelled_by_user"):
            status = Status.FAILED.value
        elif row is None:
            status = Status.INTERRUPTED.value if manifest.get("cancelled_by_user") else Status.FAILED.value
        else:
            continue
        if row is not None and row["status"] == status and f"SLURM state {state}" in str(row.get("error")):
            continue
        from .runner import RunRow, none_if_missing

        fresh = RunRow(**{k: none_if_missing(v) for k, v in row.items()}) if row is not None else new_row(spec)
        epochs = fresh.epochs_run or 0
        fresh.status = status
        fresh.finished_at = fresh.finished_at or now()
        fresh.error = (f"SLURM state {state} (task {task_id}) after {epochs} epoch(s)"
                       + (f"; the run had recorded: {row['error']}" if row is not None and row.get("error") else ""))
        write_shard([fresh], runs_dir(Path(spec.results), spec.suite), spec.run_id)
        changed.append(f"{spec.label} seed {spec.seed}: {status} (SLURM state {state}, task {task_id})")
    return changed


def wait(array_id: str, jobs: list, specs: list[RunSpec]) -> bool:
    """Wait for every task, with a progress bar fed by the finished shards. Ctrl-C cancels the array through
    submitit and records the unfinished runs as interrupted. True when interrupted."""
    from tqdm import tqdm

    results, suite = Path(specs[0].results), specs[0].suite
    manifest_path = slurm_folder(results, suite) / f"{array_id}.json"
    task_ids = [j.job_id for j in jobs]
    bar = tqdm(total=len(specs), desc=f"SLURM job {array_id}", unit="run", file=sys.stderr, disable=None)
    last_active = time.time()
    try:
        while True:
            rows = set(load_runs(results, suite)["run_id"]) if (results / suite / "runs").is_dir() else set()
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


def write_missing(specs: list[RunSpec], status: Status, why: str) -> None:
    """A row with `status` and `why` for each spec that has none (a task cancelled or killed before its worker wrote)."""
    from .worker import new_row

    results, suite = Path(specs[0].results), specs[0].suite
    have = set(load_runs(results, suite)["run_id"]) if (results / suite / "runs").is_dir() else set()
    for spec in specs:
        if spec.run_id not in have:
            row = new_row(spec)
            row.status = status.value
            row.error = why
            row.finished_at = now()
            write_shard([row], runs_dir(results, suite), spec.run_id)


def pending_jobs(results: Path, suite: str) -> list[tuple[str, dict[str, str]]]:
    """The submitted arrays of this suite with their tasks still pending or running: (array id, task states)."""
    out = []
    for path in sorted(slurm_folder(results, suite).glob("*.json")):
        manifest = json.loads(path.read_text())
        live = {t: s for t, s in states(list(manifest["tasks"])).items() if s in ACTIVE_STATES}
        if live:
            out.append((manifest["job_id"], live))
    return out
