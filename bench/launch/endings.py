"""The row of a run that ended otherwise than by finishing: interrupted while starting, killed, past its time, or
ended by SLURM. Written here and nowhere else: one row per run, whatever moment of its life it was stopped at."""
from __future__ import annotations

import signal
import sys
from pathlib import Path

from ..core.errors import EXIT_INTERRUPTED
from ..plan.spec import RunSpec
from ..store.schema import now
from ..store.status import Status
from .base import Ended


def write_ending(spec: RunSpec, status: str, error: str, keep: bool = True, epochs_note: bool = False) -> None:
    """Give the run `status` and `error`. With `keep`, a row the run wrote itself (when it was stopped) keeps what
    it measured; a run that left none gets a fresh row. With `epochs_note`, the error says how many epochs it
    finished."""
    from ..plan.rows import new_row
    from ..store.paths import runs_dir
    from ..store.shards import read_run_row, write_shard

    row = (read_run_row(Path(spec.results), spec.suite, spec.run_id) if keep else None) or new_row(spec)
    row.status = status
    row.error = f"{error}; stopped after {row.epochs_run or 0} epoch(s)" if epochs_note else error
    row.finished_at = row.finished_at or now()
    write_shard([row], runs_dir(Path(spec.results), spec.suite), spec.run_id)


def stopped(spec: RunSpec, status: str, why: str) -> None:
    """A run stopped from outside (its time limit): `why`, and the epochs it finished, as its error."""
    write_ending(spec, status, why, epochs_note=True)


def without_row(code: int, interrupted: bool) -> tuple[str, str]:
    """(status, error) of a child that ended without writing its row (interrupted while starting, killed, crashed)."""
    if interrupted or code in (EXIT_INTERRUPTED, -signal.SIGINT, -signal.SIGTERM):
        return Status.INTERRUPTED.value, "interrupted (Ctrl-C or SIGTERM) before the run started"
    if code < 0:
        name = signal.Signals(-code).name
        return Status.FAILED.value, (f"worker killed by {name}"
                                     + (" (out of memory? the kernel's OOM killer sends it)" if name == "SIGKILL" else ""))
    return Status.FAILED.value, f"worker exited with status {code} without recording a result"


def settle(spec: RunSpec, ended: Ended, number: int, total: int, timeout_s: float | None) -> bool:
    """Make sure an ended run has its row (timeout, or written here if the child left none). True: stop the suite.
    A worker that found its run held by another live process (EXIT_BUSY) wrote nothing and gets nothing: the run
    and its row are the holder's."""
    from ..store.lock import EXIT_BUSY
    from ..store.shards import has_row

    if ended.code == EXIT_BUSY and not ended.timed_out:
        return ended.interrupted
    if ended.timed_out:
        stopped(spec, Status.TIMEOUT.value, f"ran past --run-timeout {timeout_s:g} s")
        print(f"[{number}/{total}] {spec.title}: stopped after --run-timeout {timeout_s:g} s; "
              "going on", file=sys.stderr)
        return False
    if not has_row(Path(spec.results), spec.suite, spec.run_id):
        write_ending(spec, *without_row(ended.code, ended.interrupted), keep=False)
    return ended.interrupted or ended.code in (EXIT_INTERRUPTED, -signal.SIGINT)
