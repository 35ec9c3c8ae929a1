"""Damaged files, set aside. A file bench reads back that is not what bench wrote (a truncated shard or checkpoint, a
shard of another schema, a cache of the wrong shape) is named in one line (its path, what is wrong, what bench did)
and moved into the quarantine folder of the folder it belongs to (bench.store.paths.quarantine_dir), keeping its path
inside that folder: never deleted, never written over a file set aside earlier. The reader then goes on without it,
and a command says at the end how many files it set aside (`summary`)."""
from __future__ import annotations

import errno
import itertools
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .paths import quarantine_dir


class Damaged(Exception):
    """What is wrong with a file bench read back, in a few words (a reader raises it, `set_aside` says it)."""


@dataclass(frozen=True)
class SetAside:
    home: Path  # the folder the file belonged to (a results folder, or the cache folder)
    path: Path  # where it was
    moved_to: Path  # where it is now


SET_ASIDE: list[SetAside] = []  # every file this process set aside, in order: what the commands count

# A file system that cannot make a hard link (some network and FUSE ones): the file is renamed instead.
NO_LINKS = {errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


def quarantined(home: Path, path: Path) -> Path:
    """Where `path` goes in `home`'s quarantine folder: its path inside `home` kept (its name alone if outside)."""
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(home))
    return quarantine_dir(home) / (Path(path).name if relative.startswith("..") else relative)


def move_aside(path: Path, home: Path) -> Path:
    """Move `path` into the quarantine folder, under its own name or, when that is taken by a file set aside earlier
    (by this process or another), `<stem>.<n><suffix>`: a hard link refuses a name that exists, so nothing there is
    ever written over. Returns where it went."""
    target = quarantined(home, path)
    target.parent.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        candidate = target if n == 1 else target.with_name(f"{target.stem}.{n}{target.suffix}")
        try:
            os.link(path, candidate, follow_symlinks=False)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in NO_LINKS:
                raise
            if os.path.lexists(candidate):
                continue
            os.rename(path, candidate)
            return candidate
        os.unlink(path)
        return candidate
    raise AssertionError("unreachable")


def set_aside(paths: list[Path], home: Path, what: str, then: str = "the rest goes on") -> list[Path]:
    """Move `paths` aside (the first is the damaged file the line names; the others go with it) and say so in one
    line on stderr: the path, `what` is wrong, where it went, and `then`, what bench does next. A file that cannot
    be moved (a read-only folder) is left where it is, and the line says so; the reader skips it all the same."""
    home, moved, refused = Path(home), [], None
    for path in paths:
        try:
            moved.append(move_aside(Path(path), home))
        except FileNotFoundError:  # gone meanwhile: another process set it aside first
            continue
        except OSError as exc:
            refused = exc.strerror or type(exc).__name__
    SET_ASIDE.extend(SetAside(home, Path(p), m) for p, m in zip(paths, moved))
    if moved:
        done = f"moved to {moved[0]}" + (f" (and {len(moved) - 1} file(s) with it)" if len(moved) > 1 else "")
    else:
        done = f"could not be moved aside ({refused}): left in place, skipped" if refused else "already set aside"
    print(f"bench: {paths[0]}: {one_line(what)}; {done}; {then}", file=sys.stderr)
    return moved


def one_line(text: str, limit: int = 200) -> str:
    """`text` as one line of at most `limit` characters (a file's own bytes can be in it)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 3] + "..."


def count() -> int:
    """How many files this process has set aside so far (`summary(since=count())` counts what follows)."""
    return len(SET_ASIDE)


def summary(since: int = 0, then: str = "the rest is reported") -> str | None:
    """One line counting the files set aside since `since`, and where they went; None when there were none."""
    found = SET_ASIDE[since:]
    if not found:
        return None
    folders = ", ".join(sorted({str(quarantine_dir(s.home)) for s in found}))
    return f"bench: set aside {len(found)} damaged file(s) (named above) in {folders}; {then}"


def say_summary(since: int = 0, then: str = "the rest is reported") -> None:
    line = summary(since, then)
    if line:
        print(line, file=sys.stderr)
