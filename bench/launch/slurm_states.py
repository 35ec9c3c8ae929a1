"""What SLURM says of a submitted job array, and the rows it implies: a task SLURM ended (time limit, scancel,
node failure) gets status `timeout` or `failed` with the SLURM state in `error`; a task that left no row gets one.
`bench status` and `bench run` read it from the manifest of each submission (`<results>/<suite>/slurm/<job>.json`).
"""
from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

from ..plan.spec import RunSpec
from ..store.paths import is_safe_name, slurm_manifests
from ..store.status import Status

ACTIVE_STATES = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED"}
TIMEOUT_STATES = {"TIMEOUT", "DEADLINE"}
FAILED_STATES = {"CANCELLED", "NODE_FAIL", "FAILED", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL"}


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


TASK_ID = re.compile(r"[0-9]{1,12}(_[0-9]{1,9})?")  # SLURM's `<array>_<index>`, or a plain job id


def read_manifest(path: Path) -> tuple[dict, dict[str, RunSpec]] | None:
    """A submission's manifest and its specs by task id, each spec placed in the results folder and suite the
    manifest lies in (`<results>/<suite>/slurm/<job>.json`: a moved folder keeps working, and a path or name in the
    file never sends a row elsewhere). A manifest that is not one (damaged, or hostile: a task id that is not
    SLURM's, a run id that is not a file name) is named in one line and left out (None)."""
    try:
        manifest = json.loads(path.read_text())
        tasks = manifest["tasks"]
        specs = {}
        for task_id, text in tasks.items():
            spec = RunSpec.from_json(text)
            if not (TASK_ID.fullmatch(task_id) and spec.suite == path.parent.parent.name
                    and is_safe_name(spec.run_id)):
                raise ValueError(task_id)
            specs[task_id] = dataclasses.replace(spec, results=str(path.parent.parent.parent))
        if not (isinstance(manifest.get("job_id"), str) and TASK_ID.fullmatch(manifest["job_id"])):
            raise ValueError("job_id")
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        print(f"bench: {path} is not a SLURM submission's manifest; ignored", file=sys.stderr)
        return None
    return manifest, specs


def reconcile(manifest_path: Path) -> list[str]:
    """Rows for the tasks SLURM ended: `timeout` for its time limit, `failed` for a cancel or a node failure, with
    the SLURM state in `error`; a task that left no row gets one. Returns a line per changed run."""
    from ..store.shards import cell, load_runs
    from .endings import write_ending

    read = read_manifest(manifest_path)
    if read is None:
        return []
    manifest, specs = read
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
        if row is None and held(spec):
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
        epochs = (cell(row["epochs_run"]) if row is not None else None) or 0
        write_ending(spec, status, f"SLURM state {state} (task {task_id}) after {epochs} epoch(s)"
                     + (f"; the run had recorded: {row['error']}" if row is not None and row.get("error") else ""))
        changed.append(f"{spec.title}: {status} (SLURM state {state}, task {task_id})")
    return changed


def write_missing(specs: list[RunSpec], status: Status, why: str) -> None:
    """A row with `status` and `why` for each spec that has none (a task cancelled or killed before its worker wrote)."""
    from ..store.shards import has_row
    from .endings import write_ending

    for spec in specs:
        if not has_row(Path(spec.results), spec.suite, spec.run_id) and not held(spec):
            write_ending(spec, status.value, why, keep=False)


def held(spec: RunSpec) -> bool:
    """Another live process holds the run's identity (bench.store.lock): a task of it that left no row found it held
    and wrote nothing; the run and its row are the holder's, not this submission's to give one."""
    from ..store.lock import held_by
    from ..store.paths import lock_path

    return held_by(lock_path(Path(spec.results), spec.suite, spec.config_hash)) is not None


def pending_jobs(results: Path, suite: str) -> list[tuple[str, dict[str, str]]]:
    """The submitted arrays of this suite with their tasks still pending or running: (array id, task states)."""
    out = []
    for path in slurm_manifests(results, suite):
        read = read_manifest(path)
        if read is None:
            continue
        manifest = read[0]
        live = {t: s for t, s in states(list(manifest["tasks"])).items() if s in ACTIVE_STATES}
        if live:
            out.append((manifest["job_id"], live))
    return out
