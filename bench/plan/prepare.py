"""The plan of one `bench run`: every check that needs no training (arguments, results folder, data), then one
run spec per entry × seed, each with its full identity."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
import json
import subprocess
from pathlib import Path
from typing import Callable

from ..config.lookup import get_suite
from ..config.suite import Suite
from ..core.hashing import normalized
from ..store.paths import results_folder
from .code import harness_code
from .model_check import check_models
from .identity import architecture_identity, device_identity, software_identity, weights_identity
from .options import RunOptions
from .select import check_input_size, run_recipe, select_entries
from .spec import RunSpec

# The paths of the project whose changes can change a result: only these make a row's git sha "+dirty".
RESULT_SOURCES = ("bench", "models", "pyproject.toml")


def git_sha(root: Path | None = None) -> str:
    """The checked-out commit (+dirty when the package sources or pyproject have uncommitted changes), or "unknown"."""
    root = root or Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *RESULT_SOURCES],
                               cwd=root, capture_output=True, text=True).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def own_threads(device: object) -> int | None:
    """The thread count a CPU run trains with when the launcher says nothing: this process's own (None on a GPU)."""
    import torch

    return torch.get_num_threads() if getattr(device, "type", str(device)) == "cpu" else None


def plan(suite: Suite, options: RunOptions, device: object, threads: int | None = None, recipe=None,
         entries: list | None = None, seeds: range | None = None) -> list[RunSpec]:
    """Every variant × seed of the suite, as run specs under one recipe, each with its full identity. `threads`:
    what each CPU run will train with (the launcher decides; default this process's count); `recipe`, `entries`:
    the run's recipe and chosen entries when the caller resolved them already (`planned` does); `seeds`: other
    seeds than the run's (a tuning's trial seeds)."""
    from ..data.registry import data_identity

    threads = threads if threads is not None else own_threads(device)
    recipe = run_recipe(suite, options) if recipe is None else recipe
    dataset = options.dataset or suite.dataset
    seeds = range(options.seeds if options.seeds is not None else suite.seeds) if seeds is None else seeds
    entries = select_entries(suite, options.variants) if entries is None else entries
    shared = {"data": data_identity(dataset, options.data_root), "recipe": normalized(dataclasses.asdict(recipe)),
              "device": device_identity(device, threads), "software": software_identity(device),
              "code": harness_code()}
    per_entry = {e: {"architecture": architecture_identity(e.variant), "weights": weights_identity(e.variant, e.weights)}
                 for e in entries}
    labels = tuple(dict.fromkeys([e.label for e in suite.entries] + [e.label for e in entries]))
    published = json.dumps([p.to_dict() for p in suite.published])
    on_defaults = recipe == suite.recipe and dataset == suite.dataset  # where the suite's promises hold
    sha = git_sha()
    return [
        RunSpec(suite.name, e.variant, e.weights, e.label, dataset, options.data_root, recipe, seed, str(device),
                options.results, sha, options.tensorboard, options.checkpoints,
                identity={**per_entry[e], **shared, "seed": seed}, suite_description=suite.description,
                suite_labels=labels, suite_published=published,
                min_test_acc=e.min_test_acc if on_defaults else None, on_suite_defaults=on_defaults, threads=threads)
        for seed in seeds for e in entries
    ]


def check_data(dataset: str, data_root: str | None, recipe) -> int:
    """Load the data set once here and refuse it, in one line, when its results would mean nothing: before any
    child starts, not once per run. Returns its class count."""
    import torch

    from ..data.check import check
    from ..data.registry import load_dataset

    # Tiny images and no pixels decoded: only labels and files matter to the checks.
    data = load_dataset(dataset, data_root, 1, 0, recipe.val_fraction, torch.device("cpu"), decode=False,
                        train_limit=recipe.train_limit, test_limit=recipe.test_limit)
    check(data.summary(), recipe.batch_size)
    return data.num_classes


def fill_image_cache(dataset: str, data_root: str | None, recipe) -> None:
    """Image files: decoded into the image cache here, once, at the runs' input size; every run then reads it."""
    import torch

    from ..data.registry import is_image_files, load_dataset

    if is_image_files(dataset):
        load_dataset(dataset, data_root, recipe.input_size, 0, recipe.val_fraction, torch.device("cpu"))


@dataclass
class Prepared:
    """A `bench run` after every check that needs no training: the suite, its device and thread count, the recipe
    and entries resolved once, and the planned run specs (the tuning's trials, when it tunes)."""

    suite: Suite
    options: RunOptions
    device: object
    threads: int | None
    recipe: object
    entries: list
    specs: list[RunSpec] = field(default_factory=list)

    def plan(self, recipe=None, entries: list | None = None, seeds: range | None = None) -> list[RunSpec]:
        """Run specs under another recipe, for some of the entries, or with other seeds."""
        return plan(self.suite, self.options, self.device, self.threads, recipe or self.recipe,
                    self.entries if entries is None else entries, seeds)


def prepared(suite_name: str, options: RunOptions, threads: Callable[[object], int | None] = own_threads
             ) -> Prepared:
    """The suite and its run specs, after every check that needs no training (arguments, results folder, data).
    `threads(device)`: the thread count of each CPU run under the chosen launcher."""
    from ..data.registry import check_spec  # before any child starts: one error, not one per run
    from .tune import grid_of, trial_specs

    suite = get_suite(suite_name)
    dataset = options.dataset or suite.dataset
    check_spec(dataset)
    recipe, entries = run_recipe(suite, options), select_entries(suite, options.variants)  # resolved once
    grid = grid_of(suite, options, recipe)
    check_input_size(entries, recipe.input_size)
    results_folder(options.results)
    from ..core.device import resolve_device  # torch: after the checks that need none, so a typo is told at once

    device = resolve_device(options.device)
    num_classes = check_data(dataset, options.data_root, recipe)
    check_models([e.variant for e in entries], num_classes, dataset, recipe.input_size, device.type == "cpu")
    fill_image_cache(dataset, options.data_root, recipe)
    ready = Prepared(suite, options, device, threads(device), recipe, entries)
    ready.specs = trial_specs(ready, grid) if grid else ready.plan()
    return ready


def planned(suite_name: str, options: RunOptions, threads: Callable[[object], int | None] = own_threads
            ) -> tuple[Suite, list[RunSpec]]:
    """The suite and its run specs (a tuning's trials, when it tunes), after every check that needs no training."""
    ready = prepared(suite_name, options, threads)
    return ready.suite, ready.specs
