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
from ..store.atomic import fault_of, temporary
from ..store.paths import resume_dir
from ..store.quarantine import Damaged, set_aside
from ..store.resume import POINT, ResumePoint, forget_point, write_point
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
    point = ResumePoint(spec.run_id, int(training["epoch"]), spec.recipe.epochs)
    try:
        write_point(results, spec.suite, spec.config_hash, point)
    except OSError as exc:  # a full disk: one line (bench.store.atomic), not a traceback, and no temporary file
        temporary(folder / POINT).unlink(missing_ok=True)
        fault = fault_of(exc, folder / POINT)
        if fault is None:
            raise
        raise fault from None
    for old in folder.glob("best-*.pt"):
        if old.name != best.name:
            old.unlink(missing_ok=True)
    return time.perf_counter() - start


def load(spec: RunSpec) -> Saved | None:
    """The checkpoint of the run's identity, or None when it has none (or one of another identity: the folder is
    named by the identity's hash, so that is a folder copied by hand; the run then starts afresh)."""
    folder = resume_dir(Path(spec.results), spec.suite, spec.config_hash)
    return load_checkpoint(folder, spec.config_hash, spec.run_id, Path(spec.results))


def load_checkpoint(folder: Path, config_hash: str, run_id: str, results: Path) -> Saved | None:
    """The checkpoint in the resume folder `folder`, or None: when there is none, when it is of another identity,
    or when it is damaged (`read_checkpoint`): then its files are set aside into the results folder's quarantine
    (bench.store.quarantine), said in one line, and the run starts afresh."""
    path = folder / STATE
    if not path.is_file():
        return None
    try:
        return read_checkpoint(folder, config_hash, run_id)
    except Damaged as exc:
        set_aside([path, *sorted(folder.glob("best-*.pt"))], results, f"damaged checkpoint: {exc}",
                  then="the run starts afresh")
        return None


# What state.pt holds (bench.worker.resume.save), and the type of each; and what its training state holds
# (bench.train.state.Training.state_dict; `cuda_rng` only on a GPU).
STATE_KEYS = {"config_hash": str, "training": dict, "epochs": list, "best_epoch": int, "best_val_acc": (int, float),
              "best_file": str, "past": dict}
TRAINING_KEYS = {"epoch": int, "model": dict, "optimizer": dict, "scheduler": dict, "generator": torch.Tensor,
                 "cpu_rng": torch.Tensor}


def read_checkpoint(folder: Path, config_hash: str, run_id: str) -> Saved | None:
    """The checkpoint in `folder` (None when it is of another identity), or Damaged, saying what is wrong: a file
    torch cannot read, a state without what `save` writes, a best-weights file missing or unreadable."""
    state = torch_file(folder / STATE)
    wrong = [k for k, kind in STATE_KEYS.items() if not isinstance(state.get(k), kind)] if isinstance(state, dict) \
        else ["all"]
    if wrong:
        raise Damaged(f"{STATE} lacks {', '.join(wrong)} (or holds another type)")
    if state["config_hash"] != config_hash:
        return None
    fault = training_fault(state)
    if fault:
        raise Damaged(f"{STATE} {fault}")
    name = state["best_file"]
    if name != best_name(state["best_epoch"]):
        raise Damaged(f"{STATE} names best weights {name!r}, not {best_name(state['best_epoch'])}")
    best = torch_file(folder / name)
    if not isinstance(best, dict) or not all(isinstance(v, torch.Tensor) for v in best.values()):
        raise Damaged(f"{name} holds no weights")
    try:  # the epochs so far become this run's (the same run id when `bench run` resumed it; bench.store.resume)
        epochs = [EpochRow(**{**e, "run_id": run_id}) for e in state["epochs"]]
    except TypeError as exc:
        raise Damaged(f"{STATE} holds epoch rows of another shape ({exc})") from None
    if not all(is_number(v) for e in epochs for k, v in dataclasses.asdict(e).items() if k != "run_id"):
        raise Damaged(f"{STATE} holds epoch rows with values that are not numbers")
    return Saved(state["training"], epochs, state["best_epoch"], state["best_val_acc"], best, state["past"])


def training_fault(state: dict) -> str | None:
    """What is wrong with the training state `state` holds (a key missing, epochs that do not add up), or None."""
    training = state["training"]
    missing = [k for k, kind in TRAINING_KEYS.items() if not isinstance(training.get(k), kind)]
    if missing:
        return f"holds a training state without {', '.join(missing)}"
    if not 1 <= training["epoch"] == len(state["epochs"]) or not 1 <= state["best_epoch"] <= training["epoch"]:
        return f"holds {len(state['epochs'])} epoch row(s) for a state after epoch {training['epoch']}"
    if not isinstance(state["past"].get("resumed_after_epochs"), list):
        return "holds no list of earlier resumes"
    return None


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def torch_file(path: Path) -> object:
    """What `torch.load(path, weights_only=True)` reads (plain tensors, numbers, strings), or Damaged saying why not
    (missing, truncated, not a torch file, holding more than plain data)."""
    if not path.is_file():
        raise Damaged(f"{path.name} is missing")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)  # RNG states live on the CPU
    except Exception as exc:  # torch raises several types for a broken file; all mean the same here
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise Damaged(f"{path.name} cannot be read ({text.split('. ')[0].rstrip('.')})") from None


FINAL = "final.pt"  # a finished run's state, kept with --checkpoints: never resumed from (--force trains afresh)


def remove(spec: RunSpec) -> None:
    """The run ended ok: its checkpoint is no longer needed; --checkpoints keeps it, renamed so as not to resume."""
    folder = resume_dir(Path(spec.results), spec.suite, spec.config_hash)
    forget_point(Path(spec.results), spec.suite, spec.config_hash)
    if not spec.checkpoints:
        shutil.rmtree(folder, ignore_errors=True)
    elif (folder / STATE).is_file():
        os.replace(folder / STATE, folder / FINAL)
