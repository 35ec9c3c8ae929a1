"""A run's specification: everything a child process needs, plain data that survives JSON."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass

from .suites import Recipe


@dataclass(frozen=True)
class RunSpec:
    """One run: a variant with its weights, on a data set, under a recipe, with a seed."""

    suite: str
    variant: str
    weights: str | None
    label: str
    dataset: str
    data_root: str | None
    recipe: Recipe
    seed: int
    device: str  # resolved: "cpu" or "cuda"
    results: str
    git_sha: str
    tensorboard: str | None = None
    checkpoints: bool = False

    @property
    def config_hash(self) -> str:
        """What makes two runs the same experiment: variant, weights, data, recipe, seed and device kind."""
        key = {"variant": self.variant, "weights": self.weights, "dataset": self.dataset,
               "recipe": dataclasses.asdict(self.recipe), "seed": self.seed, "device": self.device}
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def run_id(self) -> str:
        """A readable, unique shard name: label slug, seed, and the start of the config hash."""
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", self.label).strip("-")
        return f"{slug}-s{self.seed}-{self.config_hash[:8]}"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        raw = json.loads(text)
        raw["recipe"] = Recipe(**raw["recipe"])
        return cls(**raw)
