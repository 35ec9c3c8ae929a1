"""Initialisation options a recipe can ask for, applied to any registered model after it is built."""
from __future__ import annotations

from torch import nn


def zero_init_residual(model: nn.Module) -> int:
    """Zero the last layer of every residual branch that has a shortcut, so that each such block starts as the
    identity: the last BatchNorm's scale in post-activation blocks (as torchvision's `zero_init_residual` and
    Goyal et al. 2017 / He et al. 2019, "Bag of Tricks", do), the last convolution's weights in pre-activation
    blocks, whose branch ends in a convolution. Deep ResNets then train fast from the first steps. Blocks
    without a shortcut are left alone (zeroing them would cut the signal). Returns how many blocks changed."""
    changed = 0
    for module in model.modules():
        end = getattr(module, "branch_end", None)
        if callable(end) and getattr(module, "shortcut", False):
            nn.init.zeros_(end().weight)
            changed += 1
    return changed
