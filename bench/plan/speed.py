"""Where a run's memory format chosen by measurement is kept (bench.worker.speed_choice measures and writes it):
the key of a choice, and the step time a finished probe left for a planned run (the suite's ETA prices runs by it)."""
from __future__ import annotations

from pathlib import Path

from ..core.hashing import digest
from ..store.jsonfile import finite_number, read_json
from ..store.paths import speed_choices_path
from ..store.speed import STEP_COLUMNS
from .spec import RunSpec


def choice_ok(entry: object) -> bool:
    """An entry as bench.worker.speed_choice writes it: a step time in ms per memory format, and the format chosen."""
    return (isinstance(entry, dict) and all(finite_number(entry.get(column)) for column in STEP_COLUMNS.values())
            and isinstance(entry.get("channels_last"), bool))


def read_choices(path: Path) -> dict:
    """The memory formats chosen so far (`speed_choices.json`); a damaged file is set aside and read as empty
    (bench.store.jsonfile): each format is measured again."""
    return read_json(path, choice_ok)


def choice_key(spec: RunSpec) -> str:
    """What the choice depends on: the architecture, the device (and CPU threads), the software, and the recipe's
    batch shape, precision, optimizer and loss (the weights and the seed do not change the speed)."""
    recipe = spec.recipe
    identity = spec.identity
    return digest({"architecture": identity.get("architecture", spec.variant), "device": identity.get("device"),
                   "software": identity.get("software"), "batch_size": recipe.batch_size,
                   "input_size": recipe.input_size, "precision": recipe.precision, "nesterov": recipe.nesterov,
                   "label_smoothing": recipe.label_smoothing})


def measured_step_s(spec: RunSpec, choices: dict | None = None) -> float | None:
    """Seconds of one training step of `spec` as the probe measured them, in the format it will train in (the
    given one, or the chosen one); None before its variant was probed on this device."""
    choices = read_choices(speed_choices_path(Path(spec.results))) if choices is None else choices
    found = choices.get(choice_key(spec))
    if found is None:
        return None
    channels_last = found["channels_last"] if spec.recipe.channels_last is None else spec.recipe.channels_last
    return found[STEP_COLUMNS[bool(channels_last)]] / 1e3
