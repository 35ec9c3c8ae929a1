"""A run from its spec to its row: the row is written whatever happens (ok, failed, out of memory, diverged,
interrupted), with the timing-isolation marker around the training."""
from __future__ import annotations

import os
import signal
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path

import torch

from ..core.errors import EXIT_INTERRUPTED
from ..measure import isolation
from ..plan.rows import new_row
from ..plan.spec import RunSpec
from ..store.atomic import WriteFault, fault_of
from ..store.lock import EXIT_BUSY, FORCE_VARIABLE, Holder, RunLock, acquire
from ..store.paths import epochs_dir, runs_dir
from ..store.schema import now
from ..store.shards import write_shard
from ..store.status import Status
from .start import EARLY_SIGNALS, note_early_signals, phase

def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the CPU allocator's failure."""
    text = str(exc)
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in text or "can't allocate memory" in text


def classify(exc: BaseException) -> tuple[str, str]:
    """(status, one-line error) for an exception that ended a run."""
    from ..plan.errors import user_error_types
    from ..train.loop import Diverged

    first_line = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, Diverged):
        return Status.DIVERGED.value, first_line
    if is_out_of_memory(exc):
        return Status.OOM.value, f"out of memory: {first_line}"
    if isinstance(exc, user_error_types()):
        return Status.FAILED.value, first_line
    return Status.FAILED.value, f"{type(exc).__name__}: {first_line}"


def execute(spec: RunSpec) -> int:
    """Run `spec`, write its run and epoch shards whatever happens, and return the exit status."""
    from .run import train_run

    row, epochs = new_row(spec), []
    code = 0
    results = Path(spec.results)
    marker = isolation.Marker(spec.run_id, isolation.host(), isolation.slot(spec.device), os.getpid(),
                              datetime.now(timezone.utc).isoformat())
    isolation.write_marker(results, marker)
    try:
        # From here on Ctrl-C and SIGTERM raise KeyboardInterrupt; one noted during start-up is raised now.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, raise_interrupt)  # a terminated run is recorded as interrupted
        if EARLY_SIGNALS:
            raise KeyboardInterrupt
        phase("start")
        train_run(spec, row, epochs)
        row.status = Status.OK.value
    except KeyboardInterrupt:
        row.status, row.error, code = Status.INTERRUPTED.value, "interrupted (Ctrl-C or SIGTERM)", EXIT_INTERRUPTED
    except Exception as exc:
        row.status, row.error = classify(exc)
        if row.error.startswith(type(exc).__name__):  # an unexpected error: keep its traceback for the user
            traceback.print_exc()
        print(f"bench: {spec.title}: {row.status}: {row.error}", file=sys.stderr)
    finally:
        note_early_signals()  # the row is being written: a signal now is noted, never cuts the writing short
        phase("writing")
        try:
            write_ending(spec, row, epochs, marker)
        except Exception as exc:  # a full disk or a folder it may not write: one line, and no row (the runner's turn)
            fault = exc if isinstance(exc, WriteFault) else fault_of(exc, Path(getattr(exc, "filename", None) or "."))
            if fault is None:
                raise
            remove_temporary(exc, results)
            print(f"bench: {spec.title}: its row is not written: {fault}", file=sys.stderr)
            code = code or EXIT_NOT_WRITTEN
    return code


EXIT_NOT_WRITTEN = 1  # the worker's row could not be written (a full disk): the runner records the run itself


def write_ending(spec: RunSpec, row, epochs: list, marker: isolation.Marker) -> None:
    """The run's ending: its marker finished, its epoch and run shards written, its resume folder gone when ok."""
    from ..core.device import cuda_extra_memory, peak_memory
    from ..store.metrics import derive
    from .run import summarize_epochs

    results = Path(spec.results)
    device = torch.device(spec.device)
    if row.peak_mem_mb is None:  # stopped before training ended (bench.worker.run records it as training ends)
        row.peak_mem_mb, row.mem_kind = peak_memory(device)
    extra = cuda_extra_memory(device)
    row.peak_reserved_mb, row.nvml_used_mb = extra.get("peak_reserved_mb"), extra.get("nvml_used_mb")
    row.finished_at = now()
    marker.finished_at = datetime.now(timezone.utc).isoformat()
    isolation.write_marker(results, marker)
    row.host, row.device_slot = marker.host, marker.slot
    row.contended_with = isolation.overlapping(marker, isolation.read_markers(results))
    row.contended = bool(row.contended_with)
    if epochs:
        summarize_epochs(row, epochs)  # whatever moment it stopped at, the row agrees with its epoch rows
        write_shard(epochs, epochs_dir(results, spec.suite), spec.run_id)
    derive(row)  # the catalogue's derived columns, from the row as it ends
    write_shard([row], runs_dir(results, spec.suite), spec.run_id)
    if row.status == Status.OK.value:  # only now: a kill before the row is written still resumes
        from .resume import remove
        remove(spec)


def remove_temporary(exc: BaseException, results: Path) -> None:
    """The temporary file a plain write (the isolation marker's) left when the disk filled, when it lies in
    `results` (bench.store.atomic's own writes leave none)."""
    name = getattr(exc, "filename", None)
    if name and str(name).endswith(".tmp") and Path(name).resolve().is_relative_to(results.resolve()):
        Path(name).unlink(missing_ok=True)


def raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point of the child process: one JSON spec argument. Signals stay noted (bench.worker.start) until
    execute() is ready to record them."""
    spec = RunSpec.from_json((argv or sys.argv[1:])[0])
    if spec.threads:  # the thread count its identity names (the pool's share of the cores, SLURM's cores per task)
        torch.set_num_threads(spec.threads)
    lock = run_lock(spec)  # before anything is written for the run; the kernel lets go if this process dies
    if lock is None:
        return EXIT_BUSY
    try:
        return execute(spec)
    finally:
        lock.release()


def run_lock(spec: RunSpec) -> RunLock | None:
    """The lock of the run's identity (bench.store.lock), or None, said in one line, when this process must write
    nothing: another live process trains the run, or it finished `ok` meanwhile (finished_meanwhile)."""
    from ..store.paths import lock_path

    results = Path(spec.results)
    path = lock_path(results, spec.suite, spec.config_hash)
    try:
        lock = acquire(path)
    except OSError as exc:  # the folder cannot be written: the run will say so as it writes
        print(f"bench: {path}: cannot take the run's lock ({exc.strerror or exc}); going on without it",
              file=sys.stderr)
        lock = RunLock(path, None)
    if isinstance(lock, Holder):
        print(f"bench: {spec.title}: not run here: {lock} is running it (lock {path}); this process wrote nothing",
              file=sys.stderr)
        return None
    done = finished_meanwhile(spec)
    if done:
        lock.release()
        print(f"bench: {spec.title}: not run here: {done} finished ok meanwhile (another process); its row is kept",
              file=sys.stderr)
        return None
    return lock


def finished_meanwhile(spec: RunSpec) -> str | None:
    """The `ok` run this worker must not write over or repeat (read under the run's lock, so no other process
    writes it meanwhile): its own run id's row when `ok` (always), or any `ok` row of its identity unless --force
    started it (FORCE_VARIABLE)."""
    from ..store.shards import load_runs

    try:
        runs = load_runs(Path(spec.results), spec.suite)
    except Exception:  # a damaged shard (bench.store.shards names it): no finished row to trust
        return None
    ok = runs[runs["status"] == Status.OK.value] if not runs.empty else runs
    if spec.run_id in set(ok["run_id"]):
        return f"run {spec.run_id}"
    same = ok[ok["config_hash"] == spec.config_hash]
    if os.environ.get(FORCE_VARIABLE) != "1" and not same.empty:
        return f"run {same['run_id'].iloc[0]} of the same identity"
    return None
