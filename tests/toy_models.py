"""Outside models for the tests: factories a suite file or `--variants` names as `tests.toy_models:NAME`."""
from __future__ import annotations

from torch import nn


def tiny_cnn(num_classes: int = 10) -> nn.Module:
    """A two-convolution CNN: 3→8→16 channels, global average pool, linear classifier."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes))


NOT_A_FACTORY = 42


def tiny_dropout_cnn(num_classes: int = 10) -> nn.Module:
    """tiny_cnn with dropout before the classifier: its training draws from torch's global generator too."""
    return nn.Sequential(*tiny_cnn(num_classes)[:-1], nn.Dropout(0.3), nn.Linear(16, num_classes))


def cnn_70k(num_classes: int = 10) -> nn.Module:
    """A three-convolution CNN of 0.07 M parameters (3→32→64→80 channels): 896 + 18,496 + 46,160 conv weights and
    biases, 352 batch-norm affine, 810 in the classifier = 66,714."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(64, 80, 3, padding=1), nn.BatchNorm2d(80), nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(80, num_classes))
