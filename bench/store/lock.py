"""One live writer per run: the worker training a run holds an exclusive lock on its identity's lock file
(bench.store.paths.lock_path) from before it writes anything for the run (marker, checkpoint, rows) until it exits.
A second process given the same run (the same command started twice, a --jobs pool of another command, a SLURM
task sharing the folder) finds it held: `bench run` skips that run naming the holder, and a worker that loses the
race exits with EXIT_BUSY having written nothing.

The lock is flock(2) on the open file: the kernel releases it when the holder ends, however it ends (kill -9, the
OOM killer), so a lock never outlives its process; a file whose note still names a holder (it ended without
releasing) is simply taken, saying so in one line. The file is never deleted, only emptied on release: deleting a
lock file that others may have open would let two processes each hold a lock, on two different files.

On a network filesystem: Linux emulates flock on NFS with fcntl byte-range locks, which the server arbitrates
(NFSv4 itself; NFSv3 through lockd/NLM), so processes on different nodes sharing a results folder (SLURM tasks)
exclude each other; the exclusive lock needs the file open for writing, as here. A lock held by a node that dies is
freed when the server's lease runs out (NFSv4: 90 s by default). Where there is no such arbitration (NFS mounted
`nolock` or `local_lock=flock|all`: locks hold only between processes of one node; some FUSE or object-store
filesystems), two nodes can both take the lock; where flock fails outright (ENOLCK, EOPNOTSUPP) the worker says so in
one line and runs unlocked, as bench did before locks.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

EXIT_BUSY = 75  # a worker whose run another process holds: it wrote nothing (sysexits' EX_TEMPFAIL)
# "1" in a worker's environment when `bench run --force` started it: it trains even when its identity has an `ok` row.
# Without it, a worker that takes the lock and finds one (another process finished the run after this one's command
# planned it) trains nothing. Set by `bench run` in its own environment, so every launcher's workers inherit it
# (SLURM's tasks through sbatch's default --export=ALL).
FORCE_VARIABLE = "BENCH_FORCE"
RACE_S = 2.0  # how long a worker tries for a lock that is held: `bench run` probing it (held_by) holds it an instant
POLL_S = 0.05
NOTE_MAX = 4096  # bytes of a holder's note read back
NO_LOCKING = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a lock, from the note its holder wrote into the file."""

    pid: int
    host: str
    since: str

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host} (since {self.since})"


UNKNOWN = Holder(0, "an unknown host", "an unknown time")  # held, but its note not yet written or unreadable


class RunLock:
    """A held lock (or, with `fd` None, a run that goes on unlocked on a filesystem without locks)."""

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path, self.fd = path, fd

    def release(self) -> None:
        """Empty the note (a later holder then has no one to say it took over from) and let go."""
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)
        except OSError:
            pass  # the lock goes with the descriptor all the same
        os.close(self.fd)  # releases the flock (every descriptor of this open file is closed)
        self.fd = None


def acquire(path: Path) -> RunLock | Holder:
    """Take the lock at `path` (creating the file), or the holder that keeps it (after RACE_S of trying)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + RACE_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() < deadline:
                time.sleep(POLL_S)
                continue
            holder = note(fd) or UNKNOWN
            os.close(fd)
            return holder
        except OSError as exc:
            os.close(fd)
            if exc.errno not in NO_LOCKING:
                raise
            print(f"bench: {path}: this filesystem has no locks ({exc.strerror}); running without one: another "
                  "process given the same run would not be kept out", file=sys.stderr)
            return RunLock(path, None)
    left = note(fd)
    if left is not None:
        print(f"bench: {path}: taking over the lock of {left}, which ended without releasing it (killed?)",
              file=sys.stderr)
    write_note(fd, Holder(os.getpid(), socket.gethostname(), datetime.now(timezone.utc).isoformat(timespec="seconds")))
    return RunLock(path, fd)


def held_by(path: Path) -> Holder | None:
    """The live process holding the lock at `path`, or None when no one does (the file is not created). The check
    takes and drops the lock at once; a worker starting that instant waits for it (RACE_S)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return None  # no lock file: never taken; or one this process cannot open, which the worker will say
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return note(fd) or UNKNOWN
    except OSError:
        return None  # no locks here (the worker says so)
    finally:
        os.close(fd)
    return None


def write_note(fd: int, holder: Holder) -> None:
    text = json.dumps({"pid": holder.pid, "host": holder.host, "since": holder.since}).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, text, 0)


def note(fd: int) -> Holder | None:
    """The holder the file names, or None when it names none (emptied, or not a note: a file is possibly hostile)."""
    try:
        raw = json.loads(os.pread(fd, NOTE_MAX, 0) or b"null")
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    pid, host, since = raw.get("pid"), raw.get("host"), raw.get("since")
    if type(pid) is not int or not isinstance(host, str) or not isinstance(since, str):
        return None
    return Holder(pid, printable(host), printable(since))


def printable(text: str, width: int = 64) -> str:
    """`text` fit for one line of a message: no control characters, cut at `width`."""
    shown = "".join(c if c.isprintable() else "?" for c in text)
    return shown if len(shown) <= width else shown[: width - 1] + "…"
