"""Writing a file whole or not at all: into a hidden temporary file beside it (`.<name>.<pid>.tmp`, which readers of
the folder skip), renamed over it when complete, and removed whatever else happens, so that neither a half file nor
a temporary one stays. A fault of the machine (a full disk, a folder bench may not write) is one line, WriteFault:
the folder, what bench was writing and the space it needed."""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path
from typing import Iterator

from ..core.errors import UsageError

# The machine's faults, each as the line says it; the first two are a lack of space.
FAULTS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is used up",
          errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
          errno.EROFS: "read-only file system"}
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
MB = 2 ** 20


class WriteFault(UsageError):
    """A file bench could not write for a fault of the machine, in one line (the CLI prints it, a run records it)."""


def temporary(path: Path) -> Path:
    path = Path(path)
    return path.parent / f".{path.name}.{os.getpid()}.tmp"


def machine_fault(exc: BaseException) -> OSError | None:
    """The OSError of a machine fault (FAULTS) that caused `exc`, itself or in its chain (torch.save raises a
    RuntimeError over the OSError of the full disk); None when `exc` is another error."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in FAULTS:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def free_mb(folder: Path) -> float | None:
    """Free space where `folder` is (its nearest existing parent), in MB; None when it cannot be read."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free / MB
    except OSError:
        return None


def fault_line(path: Path, fault: OSError, needed_bytes: int | None) -> str:
    """The one line of a write that failed for `fault`: the folder, the file, and for a lack of space what it
    needed and what is free."""
    path = Path(path)
    folder, reason = path.parent, FAULTS[fault.errno]
    if fault.errno in NO_SPACE:
        free = free_mb(folder)
        need = f"{needed_bytes / MB:.2f} MB" if needed_bytes is not None else "more space"
        have = f"{free:.2f} MB free" if free is not None else "free space unknown"
        return (f"cannot write {path.name} in {folder}: {reason} (it needs {need}, {have}); free some space there "
                "or choose another --results")
    return f"cannot write {path.name} in {folder}: {reason}; make the folder writable or choose another --results"


def fault_of(exc: BaseException, path: Path, needed_bytes: int | None = None) -> WriteFault | None:
    """`exc` as a WriteFault about writing `path`, when a machine fault caused it; else None."""
    fault = machine_fault(exc)
    return None if fault is None else WriteFault(fault_line(path, fault, needed_bytes))


@contextlib.contextmanager
def atomically(path: Path, needed_bytes: int | None = None) -> Iterator[Path]:
    """The temporary path to write `path`'s content to; renamed over `path` when the block ends, removed when it
    fails. A machine fault (FAULTS) becomes WriteFault, naming the folder and `needed_bytes` (what was being
    written, or an estimate)."""
    path = Path(path)
    tmp = temporary(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)  # atomic on POSIX: the old file or the new one, never half of either
    except Exception as exc:
        remove(tmp)  # first: the free space the line gives is what there is without it
        fault = fault_of(exc, path, needed_bytes)
        if fault is None:
            raise
        raise fault from None
    finally:
        remove(tmp)


def remove(tmp: Path) -> None:
    with contextlib.suppress(OSError):  # gone once renamed; on a read-only folder there is none to remove
        tmp.unlink()


def write_bytes(path: Path, data: bytes) -> None:
    """`data` into `path`, whole or not at all."""
    with atomically(path, len(data)) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
