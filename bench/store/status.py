"""The run statuses: one vocabulary for the worker that writes them, the runner, the store and the report."""
from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """How a run ended. The value is what the parquet `status` column holds."""

    OK = "ok"
    FAILED = "failed"  # an error: missing weights, an unreadable image, a full disk, a bug
    OOM = "oom"  # the CUDA or CPU allocator ran out of memory
    DIVERGED = "diverged"  # the training loss became NaN or infinite
    INTERRUPTED = "interrupted"  # Ctrl-C or SIGTERM
    TIMEOUT = "timeout"  # ran past `bench run --run-timeout`; stopped so the suite could go on

    def __str__(self) -> str:
        return self.value


STATUSES = tuple(s.value for s in Status)
NOT_OK = tuple(s.value for s in Status if s is not Status.OK)
