"""What a suite is: its entries (variant + starting weights + promise), data set, recipe, seeds and the published
figures it is read against. The built-in suites are data in bench.config.builtin; files in bench.config.suitefile."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .recipe import Recipe

# The most seeds a suite, --seeds or --tune-seeds may ask for: each seed is a full training run per variant, and a
# plan of this many already takes ~20 s to print per variant (--dry-run, 2 CPU cores); 10^8 seeds took 17.7 GB.
MAX_SEEDS = 10_000


@dataclass(frozen=True)
class Entry:
    """A variant in a suite, with the weights it starts from (None = from scratch).

    `min_test_acc` is what the suite promises this entry reaches on the suite's own defaults (its data set
    and recipe): `bench report --strict` fails below it. None = no promise (a plain net may be worse: that
    can be the finding; pretrained weights are not there offline)."""

    variant: str
    weights: str | None = None
    min_test_acc: float | None = None  # a fraction, like test_acc

    @property
    def label(self) -> str:
        """What a reader sees: the variant, plus its starting weights when not from scratch."""
        return self.variant if self.weights is None else f"{self.variant} ({self.weights})"


@dataclass(frozen=True)
class Published:
    """A published result a suite's comparison can be read against: where it comes from, what it measured, how.

    `values` pairs a suite label with the published figure, in the unit the report shows for `metric` (a run
    column of bench.store.metrics: accuracies in %, times in s). The report sets them beside the measured values and
    says whether the published ordering of the variants holds in the run."""

    source: str  # who, where: "He et al. 2015, Table 2"
    dataset: str  # what it was measured on, in words: "ImageNet-1K (val)"
    metric: str  # the run column it corresponds to: test_acc, best_val_acc or epoch_time_s
    values: tuple[tuple[str, float], ...]
    setting: str  # how it was trained, where that differs from a bench recipe: epochs, input size, architecture
    dataset_spec: str | None = None  # the `--dataset` under which the data set is the same one, if bench reads it

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "values": [list(v) for v in self.values]}


@dataclass(frozen=True)
class Suite:
    """A named comparison: the first entry is the baseline the report compares the others with."""

    name: str
    description: str
    entries: tuple[Entry, ...]
    dataset: str = "digits"
    recipe: Recipe = field(default_factory=Recipe)
    seeds: int = 1  # at most MAX_SEEDS
    published: tuple[Published, ...] = ()  # what others measured for the same comparison
    tune: tuple[tuple[str, tuple], ...] = ()  # recipe fields tuned per variant, each with its values (a grid)
    tune_seeds: int = 1  # trials per grid point and variant


def entries(*names: str, min_test_acc: float | None = None) -> tuple[Entry, ...]:
    """From-scratch entries for `names`, each with the same promise."""
    return tuple(Entry(n, min_test_acc=min_test_acc) for n in names)
