"""The hashes of a stored identity (everything that decides a result, as JSON): `config_hash` of the whole,
`experiment_hash` without the seed and the entry (architecture and weights): rows equal in it are one
experiment, the variants of one comparison. bench.plan.identity builds the identity; the report groups by it.
"""
from __future__ import annotations

from typing import Any

from ..core.hashing import digest

ENTRY_PARTS = ("architecture", "weights")  # what differs between the variants of one experiment
PER_RUN_PARTS = ("seed",)  # what differs between the runs of one variant


def config_hash(identity: dict[str, Any]) -> str:
    return digest(identity)


def experiment_hash(identity: dict[str, Any]) -> str:
    return digest({k: v for k, v in identity.items() if k not in ENTRY_PARTS + PER_RUN_PARTS})


def entry_hash(identity: dict[str, Any]) -> str:
    return digest({k: identity.get(k) for k in ENTRY_PARTS})
