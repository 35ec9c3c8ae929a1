"""A run's specification: everything a child process needs, plain data that survives JSON."""
from __future__ import annotations

import dataclasses
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from ..config.recipe import Recipe
from ..core.hashing import slug
from ..store.identity import config_hash, experiment_hash
from ..store.tuning import point_text


@dataclass(frozen=True)
class RunSpec:
    """One execution of a run: a variant with its weights, on a data set, under a recipe, with a seed.

    `identity` (built by the runner) holds everything that decides the result; `run_id` is new for every
    execution, so re-running the same identity adds a row instead of replacing one.
    """

    suite: str
    variant: str
    weights: str | None
    label: str
    dataset: str
    data_root: str | None
    recipe: Recipe
    seed: int
    device: str  # resolved: "cpu", "cuda" or "cuda:N"
    results: str
    git_sha: str
    tensorboard: str | None = None
    checkpoints: bool = False
    identity: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""
    suite_description: str = ""
    suite_labels: tuple[str, ...] = ()
    suite_published: str = "[]"  # the suite's published references, as JSON (bench.config.suite.Published)
    min_test_acc: float | None = None  # the suite's promise for this entry; set only on the suite's own defaults
    on_suite_defaults: bool = False  # the suite's own data set and recipe, no flag changing them
    threads: int | None = None  # CPU runs: torch's thread count for this run (part of the device identity)
    role: str = "run"  # run | trial (bench.store.tuning.Role): a trial never reads the test split
    tuning: str | None = None  # trials: JSON {"space": ..., "base": ..., "seeds": N} (bench.store.schema.RunFacts)
    tuning_hash: str | None = None  # trials: the tuning they belong to (bench.store.tuning.tuning_hash)
    shared_experiment_hash: str | None = None  # trials: the experiment of the shared recipe's normal runs

    def __post_init__(self) -> None:
        if not self.run_id:
            object.__setattr__(self, "run_id", new_run_id(self.label, self.seed, self.config_hash))

    @property
    def title(self) -> str:
        """How progress lines name the run: `resnet18 seed 0`, or `trial resnet18 lr=0.1 seed 0`."""
        if not self.tuning:
            return f"{self.label} seed {self.seed}"
        point = {k: getattr(self.recipe, k) for k in json.loads(self.tuning)["space"]}
        return f"trial {self.label} {point_text(point)} seed {self.seed}"

    @property
    def config_hash(self) -> str:
        """Hash of the identity: equal hashes mean re-running would produce the same kind of number."""
        return config_hash(self.identity)

    @property
    def experiment_hash(self) -> str:
        return experiment_hash(self.identity)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        raw = json.loads(text)
        raw["recipe"] = Recipe(**raw["recipe"])
        raw["suite_labels"] = tuple(raw["suite_labels"])
        return cls(**raw)


def new_run_id(label: str, seed: int, config: str) -> str:
    """A readable, unique shard name: label, seed, the start of the config hash, and a token for this execution;
    always one plain file name (bench.store.paths.safe_name): the label's slug loses leading dots and is cut short."""
    return f"{slug(label).lstrip('.-')[:80] or 'run'}-s{seed}-{config[:8]}-{secrets.token_hex(3)}"
