"""The small JSON caches of a results folder (peak_tflops.json, speed_choices.json): read as a dict, empty when
missing, and written whole and atomically (a temporary file renamed over it, bench.store.atomic), so that a reader
never sees half a file. A cache that is not what bench writes (not JSON, not an object, an entry its reader refuses)
is set aside (bench.store.quarantine) and read as empty: what it held is measured again."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from .atomic import write_bytes
from .quarantine import Damaged, set_aside


def read_json(path: Path, entry_ok: Callable[[object], bool] | None = None, home: Path | None = None) -> dict:
    """The cache at `path` as a dict (empty when missing). One that is damaged, or that holds an entry `entry_ok`
    refuses, is named in one line, moved into the quarantine folder of `home` (by default the folder it lies in: the
    caches sit at the top of their results or cache folder) and read as empty."""
    path = Path(path)
    try:
        return cache_entries(path, entry_ok)
    except FileNotFoundError:
        return {}
    except Damaged as exc:
        set_aside([path], home or path.parent, str(exc), then="read as empty: what it held is measured again")
        return {}


def cache_entries(path: Path, entry_ok: Callable[[object], bool] | None = None) -> dict:
    """The entries of the cache at `path`; Damaged, saying why, when it is not a cache (FileNotFoundError when
    there is none)."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise Damaged(f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    except RecursionError:
        raise Damaged("is not JSON (nested too deep)") from None
    except ValueError as exc:  # not JSON, or not UTF-8 text
        raise Damaged(f"is not JSON ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise Damaged(f"holds a JSON {type(data).__name__}, not an object of entries")
    for key, entry in data.items():
        if entry_ok is not None and not entry_ok(entry):
            shown = repr(key) if len(repr(key)) <= 40 else repr(key)[:37] + "..."
            raise Damaged(f"entry {shown} is not what bench writes there")
    return data


def write_json(path: Path, data: dict) -> None:
    """`data` into `path`, whole or not at all (a full disk is one line, WriteFault, and leaves no temporary file)."""
    write_bytes(Path(path), (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def finite_number(value: object, positive: bool = True) -> bool:
    """Whether a value read back is a finite number (and above zero, by default): what a measured figure is."""
    import math

    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) and (value > 0 or not positive)
