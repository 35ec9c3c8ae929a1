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
    from ..core.device import cuda_extra_memory, peak_memory
    from ..store.metrics import derive
    from .run import summarize_epochs, train_run

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
    return code


def raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point of the child process: one JSON spec argument. Signals stay noted (bench.worker.start) until
    execute() is ready to record them."""
    spec = RunSpec.from_json((argv or sys.argv[1:])[0])
    if spec.threads:  # the thread count its identity names (the pool's share of the cores, SLURM's cores per task)
        torch.set_num_threads(spec.threads)
    return execute(spec)
