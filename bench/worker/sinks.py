"""What a run writes beside its row: one prediction row per test image, its best-validation checkpoint, and
TensorBoard scalars and histograms."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from ..plan.spec import RunSpec
from ..store.atomic import atomically
from ..store.metrics import HPARAMS
from ..store.paths import checkpoint_path
from ..store.schema import EpochRow, PredictionRow


def prediction_rows(run_id: str, test) -> list[PredictionRow]:
    """One row per test image, in split order."""
    return [PredictionRow(run_id, i, int(y), int(p), float(q))
            for i, (y, p, q) in enumerate(zip(test.labels.tolist(), test.predicted.tolist(),
                                              test.probability.tolist()))]


def save_checkpoint(state: dict[str, torch.Tensor], spec: RunSpec, data) -> None:
    """The best-validation weights with what they are (variant, classes, normalisation, recipe, identity),
    written atomically; plain types only, so `torch.load(path, weights_only=True)` reads it."""
    path = checkpoint_path(Path(spec.results), spec.suite, spec.run_id)
    checkpoint = {"state_dict": state, "variant": spec.variant, "weights": spec.weights or "none",
                  "classes": list(data.classes), "mean": list(data.mean), "std": list(data.std),
                  "input_size": spec.recipe.input_size, "recipe": dataclasses.asdict(spec.recipe),
                  "config_hash": spec.config_hash, "identity": json.dumps(spec.identity, sort_keys=True),
                  "run_id": spec.run_id}
    atomic_save(checkpoint, path)


def atomic_save(obj: object, path: Path) -> None:
    """torch.save into a temporary file beside `path`, then rename: a reader (or a kill) never sees half a file. A
    full disk or a folder that cannot be written is one line (bench.store.atomic.WriteFault, with the bytes of the
    tensors it was writing), and the temporary file is removed."""
    with atomically(path, tensor_bytes(obj)) as tmp:
        with open(tmp, "wb") as f:  # through Python's file: a full disk raises its OSError (torch's own writer, a
            torch.save(obj, f)  # C++ stream, says only "iostream error")


def tensor_bytes(obj: object) -> int:
    """The bytes of the tensors in `obj` (nested dicts, lists, tuples): about what torch.save writes of it."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v) for v in obj)
    return 0


# What TensorBoard's HParams view shows of each run: its hyper-parameters (the variant and the recipe) and, under
# these tags, the run's results (row column → tag).
HPARAM_TAG = "run/{}"  # a catalogue metric's tag in TensorBoard (bench.store.metrics.HPARAMS)


def hyperparameters(spec: RunSpec) -> dict[str, object]:
    """The run's variant, data and recipe as HParams values (numbers, text or booleans; none as "none")."""
    found: dict[str, object] = {"variant": spec.label, "weights": spec.weights or "none", "dataset": spec.dataset,
                                "seed": spec.seed}
    for name, value in dataclasses.asdict(spec.recipe).items():
        found[f"recipe.{name}"] = "none" if value is None else value
    return found


class TensorBoardLog:
    """Per-epoch scalars and weight histograms under <dir>/<suite>/<run_id>, and at the end the run's
    hyper-parameters and results for TensorBoard's HParams table and parallel-coordinates view."""

    def __init__(self, spec: RunSpec) -> None:
        self.folder = Path(spec.tensorboard) / spec.suite / spec.run_id
        self._writer = None

    @property
    def writer(self):
        """Made at the first thing written: a run stopped before its first epoch leaves no empty folder."""
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.folder))
        return self._writer

    def log(self, e: EpochRow, model: torch.nn.Module) -> None:
        for name in ("train_loss", "val_loss", "train_acc", "val_acc", "lr", "epoch_time_s", "images_per_s"):
            self.writer.add_scalar(name, getattr(e, name), e.epoch)
        for name, param in model.named_parameters():
            self.writer.add_histogram(name, param.detach().cpu(), e.epoch)

    def results(self, spec: RunSpec, row) -> None:
        """The HParams plugin's records, in this run's own event file, and each result as a scalar of its tag."""
        from torch.utils.tensorboard.summary import hparams

        metrics = {HPARAM_TAG.format(m.column): float(getattr(row, m.column)) for m in HPARAMS
                   if getattr(row, m.column) is not None}
        writer = self.writer._get_file_writer()
        for summary in hparams(hyperparameters(spec), metrics):
            writer.add_summary(summary)
        for tag, value in metrics.items():
            self.writer.add_scalar(tag, value, row.epochs_run or 0)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
