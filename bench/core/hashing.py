"""Hashes and the plain-data helpers around them: short digests of values, files and names, and what changed
between two nested dicts."""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any


def digest(value: Any, length: int = 16) -> str:
    """A short sha256 of a JSON-able value (or of bytes)."""
    data = value if isinstance(value, bytes) else json.dumps(value, sort_keys=True, default=str).encode()
    return hashlib.sha256(data).hexdigest()[:length]


def file_digest(path: str, length: int = 16) -> str:
    """sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:length]


def normalized(value: Any) -> Any:
    """`value` as it comes back from JSON (tuples become lists), so identities compare equal after a round trip."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level of dotted keys."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What changed from `old` to `new`, one `key: old → new` per changed leaf."""
    a, b = flatten(old), flatten(new)
    return [f"{key}: {short(a.get(key, '–'))} → {short(b.get(key, '–'))}"
            for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]


def short(value: Any, width: int = 40) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def slug(text: str) -> str:
    """`text` as a file-name-safe piece: runs of other characters become one dash."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")
