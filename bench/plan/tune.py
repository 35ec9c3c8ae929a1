"""A tuning's plan: the grid (`--tune KEY=V1,V2,...` or a suite file's `[tune]`), one trial spec per variant ×
grid point × trial seed, and, once the trials chose, each variant's runs at its chosen values with the suite's
seeds. What a trial is, and the rule that chooses, are bench.store.tuning's."""
from __future__ import annotations

import dataclasses
import itertools
import json
from dataclasses import dataclass
from typing import Any

from ..config.recipe import FIELDS, checked, unknown_field
from ..config.suite import Suite
from ..core.errors import UsageError
from ..core.hashing import normalized
from ..store.identity import experiment_hash
from ..store.tuning import Role, trial_identity, tuning_hash
from .options import RunOptions
from .spec import RunSpec


@dataclass(frozen=True)
class Grid:
    """The tuned recipe fields, each with its values; the trial seeds; the shared recipe's own values."""

    keys: tuple[str, ...]
    values: tuple[tuple, ...]  # per key, in the order given
    seeds: int
    base: dict[str, Any]  # the shared recipe's value of each tuned field

    def points(self) -> list[dict[str, Any]]:
        """Every combination of the values: one dict per grid point."""
        return [dict(zip(self.keys, combo)) for combo in itertools.product(*self.values)]

    def to_json(self) -> str:
        return json.dumps({"space": {k: list(v) for k, v in zip(self.keys, self.values)}, "base": self.base,
                           "seeds": self.seeds}, sort_keys=True)


def parse_tune(text: str) -> tuple[str, tuple]:
    """`KEY=V1,V2,...` from `--tune`, each value checked like the recipe field."""
    key, sep, values = text.partition("=")
    key = key.strip()
    example = "--tune lr=0.02,0.05,0.1,0.2"
    if not sep or not key or not values.strip():
        raise UsageError(f"--tune '{text}': write KEY=V1,V2,..., e.g. {example} (fields: {', '.join(FIELDS)})")
    if key not in FIELDS:
        raise unknown_field(key, f"--tune {text}")
    return key, tuple(dict.fromkeys(checked(key, v, f"--tune {text}") for v in values.split(",")))


def grid_of(suite: Suite, options: RunOptions, recipe) -> Grid | None:
    """The grid the command line (`--tune`, which replaces the suite's) or the suite file (`[tune]`) asks for, or
    None when nothing is tuned."""
    pairs = [parse_tune(t) for t in options.tune] if options.tune else list(suite.tune)
    if not pairs:
        if options.tune_seeds is not None:
            raise UsageError("--tune-seeds needs --tune KEY=V1,V2,... (or a suite file's [tune] table)")
        return None
    keys = [k for k, _ in pairs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise UsageError(f"--tune names {', '.join(twice)} more than once; give all its values in one --tune "
                         f"{twice[0]}=V1,V2,...")
    fixed = sorted(k for k in keys if k in {t.partition("=")[0].strip() for t in options.settings}
                   or (k in ("epochs", "batch_size") and getattr(options, k) is not None))
    if fixed:
        raise UsageError(f"{', '.join(fixed)} is both tuned (--tune) and set (--set or its flag); drop one")
    grid = Grid(tuple(keys), tuple(v for _, v in pairs),
                options.tune_seeds if options.tune_seeds is not None else suite.tune_seeds,
                {k: getattr(recipe, k) for k in keys})
    if len(grid.points()) < 2:
        raise UsageError(f"--tune {keys[0]}={','.join(map(str, pairs[0][1]))} gives one value: nothing to choose "
                         "between; give at least two")
    return grid


def trial_specs(ready, grid: Grid) -> list[RunSpec]:
    """Every variant × grid point × trial seed of `ready` (bench.plan.prepare.Prepared), as trial specs: grid point first, so that a variant's trials are
    spread through the tuning rather than run one after another."""
    tuning, shared_recipe = grid.to_json(), normalized(dataclasses.asdict(ready.recipe))
    trials = []
    for point in grid.points():
        for spec in ready.plan(dataclasses.replace(ready.recipe, **point), seeds=range(grid.seeds)):
            shared = experiment_hash({**spec.identity, "recipe": shared_recipe})  # the shared recipe's experiment
            trials.append(dataclasses.replace(
                spec, identity=trial_identity(spec.identity), run_id="", role=Role.TRIAL.value, tuning=tuning,
                tuning_hash=tuning_hash(spec.identity, list(grid.keys)), shared_experiment_hash=shared,
                min_test_acc=None))
    return trials


def chosen_specs(ready, chosen: dict[str, dict[str, Any]]) -> list[RunSpec]:
    """Each variant's runs at its chosen values (`chosen`: label → {field: value}) with the run's seeds: normal
    runs, keyed like any other (a chosen value equal to the shared recipe's is the shared recipe's own run)."""
    specs = []
    for entry in ready.entries:
        if entry.label in chosen:
            specs += ready.plan(dataclasses.replace(ready.recipe, **chosen[entry.label]), [entry])
    order = {e.label: i for i, e in enumerate(ready.entries)}
    return sorted(specs, key=lambda s: (s.seed, order[s.label]))
