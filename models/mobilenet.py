"""MobileNetV2 (Sandler et al. 2018): a thin wrapper over torchvision's, so its weights load unchanged."""
from __future__ import annotations

from torch import nn


def mobilenet_v2(num_classes: int = 1000, width_mult: float = 1.0) -> nn.Module:
    """torchvision's MobileNetV2 at `width_mult`, with a `num_classes`-way classifier."""
    from torchvision.models import mobilenet_v2 as tv_mobilenet_v2

    return tv_mobilenet_v2(num_classes=num_classes, width_mult=width_mult)
