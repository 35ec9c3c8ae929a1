"""A run's rolling checkpoint, so that a run stopped by Ctrl-C, a kill, a time limit or a preemption goes on from
its last finished epoch when the same command runs it again (or SLURM requeues it), and ends as if never stopped.

After each epoch the worker writes, atomically, `state.pt` in the run's resume folder (bench.store.paths.resume_dir,
one per identity, so that the same command finds it again):
the training state (bench.train.state.Training), the epoch rows so far, what the row knows of the run's past
(best epoch, fixed costs, earlier resumes) and the name of the best-validation weights' file, `best-<epoch>.pt`,
written (also atomically) before the state that names it, only when the best epoch moves. A kill at any moment
leaves one consistent pair; then `point.json` (bench.store.resume) names the run and the epoch. The folder goes
when the run's `ok` row is written, unless --checkpoints keeps it.
Plain tensors, numbers and strings only: `torch.load(..., weights_only=True)` reads both files.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..plan.spec import RunSpec
from ..store.paths import resume_dir
from ..store.resume import ResumePoint, forget_point, write_point
from ..store.schema import EpochRow
from .sinks import atomic_save

STATE = "state.pt"


@dataclass
class Saved:
    """What a run had done when its checkpoint was written."""

    training: dict  # bench.train.state.Training.state_dict
    epochs: list[EpochRow]
    best_epoch: int
    best_val_acc: float
    best_state: dict[str, torch.Tensor]
    past: dict = field(default_factory=dict)  # row facts of the first process: compile_s, setup_s, started_at, ...

    @property
    def epoch(self) -> int:
        return int(self.training["epoch"])


def best_name(epoch: int) -> str:
    return f"best-{epoch}.pt"


def save(spec: RunSpec, training: dict, epochs: list[EpochRow], best_epoch: int, best_val_acc: float,
         best_state: dict[str, torch.Tensor], past: dict) -> float:
    """Write the checkpoint after `training["epoch"]`; returns the seconds it took."""
    start = time.perf_counter()
    results = Path(spec.results)
    folder = resume_dir(results, spec.suite, spec.config_hash)
    best = folder / best_name(best_epoch)
    if not best.exists():  # the best epoch moved: its weights first, then the state that names them
        atomic_save(best_state, best)
    atomic_save({"config_hash": spec.config_hash, "training": training,
                 "epochs": [dataclasses.asdict(e) for e in epochs], "best_epoch": best_epoch,
                 "best_val_acc": best_val_acc, "best_file": best.name, "past": past}, folder / STATE)
    write_point(results, spec.suite, spec.config_hash,
                ResumePoint(spec.run_id, int(training["epoch"]), spec.recipe.epochs))
    for old in folder.glob("best-*.pt"):
        if old.name != best.name:
            old.unlink(missing_ok=True)
    return time.perf_counter() - start


def load(spec: RunSpec) -> Saved | None:
    """The checkpoint of the run's identity, or None when it has none (or one of another identity: the folder is
    named by the identity's hash, so that is a folder copied by hand; the run then starts afresh)."""
    path = resume_dir(Path(spec.results), spec.suite, spec.config_hash) / STATE
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)  # RNG states live on the CPU
    if state["config_hash"] != spec.config_hash:
        return None
    best = torch.load(path.parent / state["best_file"], map_location="cpu", weights_only=True)
    # The epochs so far become this run's (the same run id when `bench run` resumed it; bench.store.resume).
    return Saved(state["training"], [EpochRow(**{**e, "run_id": spec.run_id}) for e in state["epochs"]],
                 state["best_epoch"], state["best_val_acc"], best, state["past"])


FINAL = "final.pt"  # a finished run's state, kept with --checkpoints: never resumed from (--force trains afresh)


def remove(spec: RunSpec) -> None:
    """The run ended ok: its checkpoint is no longer needed; --checkpoints keeps it, renamed so as not to resume."""
    folder = resume_dir(Path(spec.results), spec.suite, spec.config_hash)
    forget_point(Path(spec.results), spec.suite, spec.config_hash)
    if not spec.checkpoints:
        shutil.rmtree(folder, ignore_errors=True)
    elif (folder / STATE).is_file():
        os.replace(folder / STATE, folder / FINAL)
