"""Where a stopped run can go on from: its resume folder (bench.store.paths.resume_dir, one per identity) holds
`state.pt` and `best-<epoch>.pt` (bench.worker.resume writes them) and `point.json`, the small note read here without
torch: which run (its run id) the checkpoint belongs to and after which epoch of how many it was written. `bench run`
gives a resumed run that run id again, so that the resumed run writes over the stopped run's row instead of adding
one beside it."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from .paths import is_safe_name, resume_dir

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
    """The run of this identity that can be resumed, or None (none stopped, or it finished). A note that is not
    one (damaged, or its run id not a plain file name: `../../x` would send the resumed run's row outside the
    folder) is named in one line and ignored: the run then gets an id of its own."""
    path = resume_dir(results, suite, config_hash) / POINT
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return ignored(path, f"cannot be read ({type(exc).__name__})")
    if not isinstance(raw, dict) or set(raw) != {"run_id", "epoch", "epochs"}:
        return ignored(path, "is not a resume note")
    if not is_safe_name(raw["run_id"]):
        shown = repr(raw["run_id"])
        return ignored(path, f"names run id {shown if len(shown) <= 60 else shown[:57] + '...'}, not a plain file name")
    if not all(type(raw[k]) is int and raw[k] >= 0 for k in ("epoch", "epochs")):
        return ignored(path, "holds epochs that are not counts")
    return ResumePoint(**raw)


SAID: set[Path] = set()  # notes already named: a plan reads each note more than once


def ignored(path: Path, what: str) -> None:
    if path not in SAID:
        SAID.add(path)
        print(f"bench: {path} {what}; ignored: the run is given a new run id", file=sys.stderr)
    return None


def forget_point(results: Path, suite: str, config_hash: str) -> None:
    (resume_dir(results, suite, config_hash) / POINT).unlink(missing_ok=True)
