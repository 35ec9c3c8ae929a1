"""The hashes of a stored identity (everything that decides a result, as JSON): `config_hash` of the whole,
`experiment_hash` without the seed and the entry (architecture and weights): rows equal in it are one
experiment, the variants of one comparison. bench.plan.identity builds the identity; the report groups by it.
"""
from __future__ import annotations

from typing import Any

from ..core.hashing import digest, flatten, short

ENTRY_PARTS = ("architecture", "weights")  # what differs between the variants of one experiment
PER_RUN_PARTS = ("seed",)  # what differs between the runs of one variant


def config_hash(identity: dict[str, Any]) -> str:
    return digest(identity)


def experiment_hash(identity: dict[str, Any]) -> str:
    return digest({k: v for k, v in identity.items() if k not in ENTRY_PARTS + PER_RUN_PARTS})


def entry_hash(identity: dict[str, Any]) -> str:
    return digest({k: identity.get(k) for k in ENTRY_PARTS})


def code_digest(identity: dict[str, Any]) -> str:
    """The digest of the harness code an identity ran with: what `bench compare DIR@REV` and `--history` name it by."""
    return digest(identity.get("code", {}))


CODE_PARTS = ("architecture.code.", "code.")  # the model's code, the harness's code (bench.plan.code)


def changes(old: dict, new: dict) -> list[str]:
    """What differs between two identities, in words: `code: models/resnet.py BasicBlock.forward` for code (a
    definition of the model, or a file of the harness), `key: old → new` for the rest."""
    a, b = flatten(old), flatten(new)
    said, code, unrecorded = [], [], False
    for key in sorted(set(a) | set(b)):
        if a.get(key) == b.get(key):
            continue
        prefix = next((p for p in CODE_PARTS if key.startswith(p)), None)
        if prefix is None:
            said.append(f"{key}: {short(a.get(key, '–'))} → {short(b.get(key, '–'))}")
        elif not any(k.startswith(prefix) for k in a):
            unrecorded = True  # the finished run recorded no code of this part
        else:
            code.append(key[len(prefix):] + (" (new)" if key not in a else ""))
    if unrecorded:
        code.append("not recorded by the finished run (made before code was part of the identity)")
    return [f"code: {c}" for c in code] + said
