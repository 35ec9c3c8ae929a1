"""What files hold, by their bytes: the sha256 of each file, memoised by its path, size, modification time, inode
change time and inode, so a data set is read whole once, and a file rewritten under the same name, size and
modification time (its change time moves whatever the writer does) is read again. Data identities and the image
cache's keys are built from these digests, never from sizes and times alone."""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..core.hashing import file_digest
from ..store.paths import cache_dir

MEMO_NAME = "content-sha256.json"


def memo_path() -> Path:
    return cache_dir() / MEMO_NAME


def stamp(path: Path) -> str:
    s = path.stat()
    return f"{s.st_size}:{s.st_mtime_ns}:{s.st_ctime_ns}:{s.st_ino}"


def content_digests(files: list[Path]) -> list[str]:
    """The sha256 (16 hex digits) of each file's bytes, in order."""
    memo_file = memo_path()
    try:
        memo = json.loads(memo_file.read_text())
    except (OSError, ValueError):
        memo = {}
    out, changed = [], False
    for f in files:
        key = str(Path(f).resolve())
        now = stamp(Path(f))
        known = memo.get(key)
        if not known or known[0] != now:
            memo[key] = [now, file_digest(key)]
            changed = True
        out.append(memo[key][1])
    if changed:
        try:
            memo_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo_file.parent / f".{memo_file.name}.{os.getpid()}.tmp"
            tmp.write_text(json.dumps(memo))
            os.replace(tmp, memo_file)
        except OSError:  # a read-only cache folder: digests are recomputed next time, never wrong
            pass
    return out
