"""The small JSON caches of a results folder (peak_tflops.json, speed_choices.json): read as a dict, empty when
missing or unreadable, and written whole and atomically (a temporary file renamed over it), so that a reader never
sees half a file."""
from __future__ import annotations

import json
import os
from pathlib import Path


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def write_json(path: Path, data: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
