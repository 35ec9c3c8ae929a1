"""Outside models that no run can use, for tests/test_refused.py: each is refused before training, in one line."""
from __future__ import annotations

import torch
from torch import nn

from tests.toy_models import tiny_cnn


def wrong_width(num_classes: int = 10) -> nn.Module:
    """tiny_cnn whose classifier gives three more outputs than the data set has classes."""
    return tiny_cnn(num_classes + 3)


def raises(num_classes: int = 10) -> nn.Module:
    """A factory that fails when called."""
    raise RuntimeError("the kernel size does not fit")


class Pooled(nn.Module):
    """The image pooled to `num_classes` averages: the right output width, and nothing to train."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d((num_classes, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x).mean(dim=1).flatten(1)


def no_parameters(num_classes: int = 10) -> nn.Module:
    return Pooled(num_classes)


def frozen(num_classes: int = 10) -> nn.Module:
    """tiny_cnn with every parameter's requires_grad off."""
    return tiny_cnn(num_classes).requires_grad_(False)


def always_ten(num_classes: int = 10) -> nn.Module:
    """tiny_cnn with 10 outputs whatever the data set's class count."""
    return tiny_cnn(10)
