"""The memory format of a run: the recipe's when it gives one, else the one measured fastest (bench.train.probe) for
this architecture, device, batch, precision and software, measured once and kept in the results folder
(`speed_choices.json`) so that every seed of a variant trains in the same format and pays the probe once."""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
from datetime import datetime, timezone
from pathlib import Path

from ..plan.spec import RunSpec
from ..plan.speed import choice_key, read_choices
from ..store.jsonfile import write_json
from ..store.paths import speed_choices_path
from ..store.speed import BY_MEASUREMENT, BY_USER, STEP_COLUMNS

SPEED_CHOICES = speed_choices_path(Path(".")).name  # how a message names the cache


@contextlib.contextmanager
def locked(path: Path):
    """One process at a time measures (a lock file beside the cache): runs started together wait for the first
    one's answer instead of each timing its own under the other's load."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def choose_speed(spec: RunSpec, speed, model, data, row, chosen: bool | None = None):
    """`speed` in the memory format this run trains in, with the row's `channels_last`, `speed_chosen_by`, step-time
    and `speed_probe_s` columns filled. `chosen` is the format of an earlier process of this run (resumed)."""
    from ..train.probe import Choice, probe_memory_format

    given = spec.recipe.channels_last
    if given is not None:
        row.channels_last, row.speed_chosen_by = given, BY_USER
        return dataclasses.replace(speed, channels_last=given)
    path, key = speed_choices_path(Path(spec.results)), choice_key(spec)
    with locked(path):
        cached = read_choices(path).get(key)
        if cached is not None:
            choice = Choice({cl: cached[STEP_COLUMNS[cl]] / 1e3 for cl in STEP_COLUMNS}, 0.0)
        else:
            choice = probe_memory_format(model, data, spec.recipe, speed)
            choices = read_choices(path)
            choices[key] = {**{STEP_COLUMNS[cl]: s * 1e3 for cl, s in choice.step_s.items()},
                            "channels_last": choice.channels_last, "variant": spec.variant,
                            "device_name": row.device_name, "batch_size": spec.recipe.batch_size,
                            "precision": spec.recipe.precision, "probe_s": choice.probe_s,
                            "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            write_json(path, choices)
    for cl, column in STEP_COLUMNS.items():
        setattr(row, column, choice.step_s[cl] * 1e3)
    row.speed_probe_s = choice.probe_s
    row.channels_last = choice.channels_last if chosen is None else chosen
    row.speed_chosen_by = BY_MEASUREMENT  # with the format: a run stopped while timing has neither
    return dataclasses.replace(speed, channels_last=row.channels_last)
