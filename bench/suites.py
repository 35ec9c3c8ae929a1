"""The suites as data: each names its variants, a data set, one training recipe and a number of seeds."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .errors import UsageError


@dataclass(frozen=True)
class Recipe:
    """One training recipe, applied identically to every variant of a suite."""

    epochs: int = 6
    batch_size: int = 64
    lr: float = 0.05  # peak learning rate of SGD
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "cosine"  # per-step: linear warm-up, then "cosine" to 0, "step" (÷10 at 50% and 75%) or "constant"
    warmup_epochs: float = 1.0
    warmup_max_fraction: float = 0.2  # the warm-up never takes more than this share of the run's steps
    precise_bn_batches: int = 20  # before each evaluation, BatchNorm statistics recomputed over this many
    # training batches (un-augmented, in order) under the current weights; 0 = keep the running averages
    label_smoothing: float = 0.1
    zero_init_residual: bool = False  # each residual block starts as the identity (models.zero_init_residual)
    augment: str = "crop-flip"  # "none", "crop" (pad-4 random crop) or "crop-flip" (+ flips where the data set allows)
    patience: int | None = None  # early stopping: epochs without a better validation accuracy; None = off
    input_size: int = 32
    val_fraction: float = 0.2
    latency_batch: int = 32  # the larger batch of the forward-latency measurement (batch 1 is always measured)
    # Speed settings (bench.speed): part of the identity like every other field. fp32 means TF32 off, so a
    # default run computes the same on every GPU generation as on the CPU.
    precision: str = "fp32"  # fp32 | tf32 | bf16 (autocast) | fp16 (autocast + gradient scaler)
    channels_last: bool = False  # NHWC memory format for the model and its input batches
    compile: str = "off"  # torch.compile mode of the training step: off | default | reduce-overhead | max-autotune


@dataclass(frozen=True)
class Entry:
    """A variant in a suite, with the weights it starts from (None = from scratch)."""

    variant: str
    weights: str | None = None

    @property
    def label(self) -> str:
        """What a reader sees: the variant, plus its starting weights when not from scratch."""
        return self.variant if self.weights is None else f"{self.variant} ({self.weights})"


@dataclass(frozen=True)
class Suite:
    """A named comparison: the first entry is the baseline the report compares the others with."""

    name: str
    description: str
    entries: tuple[Entry, ...]
    dataset: str = "digits"
    recipe: Recipe = field(default_factory=Recipe)
    seeds: int = 1


def entries(*names: str) -> tuple[Entry, ...]:
    """From-scratch entries for `names`."""
    return tuple(Entry(n) for n in names)


SUITES: dict[str, Suite] = {
    s.name: s
    for s in [
        Suite("stem-ablation", "ResNet-18 stems: 7×7/2 vs three 3×3, then without layer4 (the seed table's four rows)",
              entries("resnet18", "resnet18-stem3", "resnet18-stem3-nolayer4", "resnet18-stem1-nolayer4"), seeds=2),
        Suite("mobile-vs-resnet", "MobileNetV2 against ResNet-18 under one recipe",
              entries("resnet18", "mobilenet_v2")),
        Suite("pretrained-vs-scratch", "ResNet-18 and ResNet-50, from scratch and from torchvision's ImageNet weights",
              (Entry("resnet18"), Entry("resnet18", "imagenet"), Entry("resnet50"), Entry("resnet50", "imagenet")),
              recipe=Recipe(lr=0.01)),
        Suite("depth", "ResNet depth: 18, 34, 50, 101, 152 layers",
              entries("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")),
        Suite("shortcut", "Plain vs residual: CIFAR-style 32/47-layer nets and ResNet-18 with and without shortcuts",
              entries("plain32", "resnet32", "resnet47-bottleneck", "resnet18-plain", "resnet18")),
    ]
}


def get_suite(name: str) -> Suite:
    """The suite called `name`, or an error listing the suites there are."""
    try:
        return SUITES[name]
    except KeyError:
        raise UsageError(f"unknown suite '{name}'; choose one of: {', '.join(SUITES)} (see `bench suites`)") from None


def with_overrides(recipe: Recipe, **changes: object) -> Recipe:
    """`recipe` with the non-None `changes` applied (from command-line flags)."""
    return dataclasses.replace(recipe, **{k: v for k, v in changes.items() if v is not None})
