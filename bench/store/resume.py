"""Where a stopped run can go on from: its resume folder (bench.store.paths.resume_dir, one per identity) holds
`state.pt` and `best-<epoch>.pt` (bench.worker.resume writes them) and `point.json`, the small note read here without
torch: which run (its run id) the checkpoint belongs to and after which epoch of how many it was written. `bench run`
gives a resumed run that run id again, so that the resumed run writes over the stopped run's row instead of adding
one beside it."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from .paths import resume_dir

POINT = "point.json"


@dataclass(frozen=True)
class ResumePoint:
    run_id: str  # the stopped run's id: the resumed run keeps it
    epoch: int  # the last finished epoch it holds
    epochs: int  # of the recipe's


def write_point(results: Path, suite: str, config_hash: str, point: ResumePoint) -> None:
    folder = resume_dir(results, suite, config_hash)
    tmp = folder / f".{POINT}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(asdict(point)))
    os.replace(tmp, folder / POINT)


def read_point(results: Path, suite: str, config_hash: str) -> ResumePoint | None:
    """The run of this identity that can be resumed, or None (none stopped, or it finished)."""
    path = resume_dir(results, suite, config_hash) / POINT
    try:
        return ResumePoint(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def forget_point(results: Path, suite: str, config_hash: str) -> None:
    (resume_dir(results, suite, config_hash) / POINT).unlink(missing_ok=True)
