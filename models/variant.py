"""What a variant is: a name, a builder and plain-data metadata. The registry holds them; the built-in table
(zoo) and outside models (outside) make them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from torch import nn


@dataclass(frozen=True)
class Variant:
    """One registered architecture variant: how to build it and what it is."""

    name: str
    builder: Callable[..., nn.Module]
    description: str
    tags: tuple[str, ...] = ()
    # torchvision weights this variant can start from, as "EnumName.MEMBER" (e.g. "ResNet18_Weights.IMAGENET1K_V1").
    weights: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    min_input_size: int = 1  # the smallest input side (px) its forward pass accepts
    source: str = "built-in"  # built-in | entry point | module | timm (models.outside)
    origin: str | None = None  # where an outside variant comes from: its source file, package or timm version

    def build(self, num_classes: int = 10) -> nn.Module:
        """A freshly initialised model with `num_classes` outputs."""
        return self.builder(num_classes=num_classes, **self.kwargs)


class UnknownVariantError(LookupError):
    """A variant name or pattern that matches nothing in the registry."""
