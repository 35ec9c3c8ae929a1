"""One configurable ResNet: stem kind, stage depths, block type and shortcuts on/off.

Module and parameter names follow torchvision's ResNet (conv1, bn1, layer1..4, fc, downsample.0/1),
so ImageNet state dicts load into every variant whose tensors keep their name and shape.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    """3×3 convolution with padding 1 and no bias (a BatchNorm follows)."""
    return nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    """1×1 convolution without bias."""
    return nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False)


def projection(in_ch: int, out_ch: int, stride: int) -> nn.Sequential:
    """The 1×1 conv + BN shortcut used when a block changes shape (ResNet option B)."""
    return nn.Sequential(conv1x1(in_ch, out_ch, stride), nn.BatchNorm2d(out_ch))


class ResidualBlock(nn.Module):
    """What both blocks share: a shortcut that is the identity, a projection, or absent; then add and ReLU."""

    expansion = 1

    def add_shortcut(self, in_ch: int, out_ch: int, stride: int, shortcut: bool) -> None:
        """Set up the shortcut; called last in __init__ so parameter order matches torchvision's."""
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = shortcut
        needs_projection = shortcut and (stride != 1 or in_ch != out_ch)
        self.downsample = projection(in_ch, out_ch, stride) if needs_projection else None

    def extra_repr(self) -> str:
        return f"shortcut={self.shortcut}"

    def merge(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The block's output: ReLU of the residual branch plus the shortcut (if any)."""
        if self.shortcut:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class BasicBlock(ResidualBlock):
    """Two 3×3 convs (ResNet-18/34); `shortcut=False` makes it a plain block."""

    expansion = 1

    def __init__(self, in_ch: int, width: int, stride: int = 1, shortcut: bool = True) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_ch, width, stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width)
        self.bn2 = nn.BatchNorm2d(width)
        self.add_shortcut(in_ch, width * self.expansion, stride, shortcut)

    def branch_end(self) -> nn.Module:
        """The residual branch's last layer (zero_init_residual zeroes its scale)."""
        return self.bn2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.merge(self.bn2(self.conv2(out)), x)


class Bottleneck(ResidualBlock):
    """1×1 reduce, 3×3 (carrying the stride, as torchvision's "v1.5"), 1×1 expand ×4."""

    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int = 1, shortcut: bool = True) -> None:
        super().__init__()
        self.conv1 = conv1x1(in_ch, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, width * self.expansion)
        self.bn3 = nn.BatchNorm2d(width * self.expansion)
        self.add_shortcut(in_ch, width * self.expansion, stride, shortcut)

    def branch_end(self) -> nn.Module:
        return self.bn3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.merge(self.bn3(self.conv3(out)), x)


@dataclass(frozen=True)
class Stem:
    """A stem as data: conv kernel, the widths of its convs, the first conv's stride, and the max-pool."""

    kernel: int
    widths: tuple[int, ...]
    stride: int
    maxpool: bool


STEMS: dict[str, Stem] = {
    "7x7": Stem(kernel=7, widths=(64,), stride=2, maxpool=True),  # torchvision / He et al. 2015
    "3x3-triple": Stem(kernel=3, widths=(32, 32, 64), stride=1, maxpool=True),  # seed table, row 2
    "3x3-deep": Stem(kernel=3, widths=(32, 32, 64), stride=2, maxpool=True),  # Bag of Tricks ResNet-C
    "3x3": Stem(kernel=3, widths=(64,), stride=1, maxpool=True),  # seed table, row 4
    "cifar": Stem(kernel=3, widths=(64,), stride=1, maxpool=False),  # the usual CIFAR ResNet-18
}

BLOCKS: dict[str, type[ResidualBlock]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


def stem_convs(stem: Stem) -> nn.Module:
    """The stem's convolutions: one Conv2d, or a Sequential of convs with BN+ReLU between them."""
    if len(stem.widths) == 1:
        return nn.Conv2d(3, stem.widths[0], stem.kernel, stem.stride, stem.kernel // 2, bias=False)
    layers: list[nn.Module] = []
    in_ch = 3
    for i, width in enumerate(stem.widths):
        layers.append(nn.Conv2d(in_ch, width, stem.kernel, stem.stride if i == 0 else 1, stem.kernel // 2, bias=False))
        if i < len(stem.widths) - 1:  # the last conv's BN+ReLU is the model's bn1/relu
            layers += [nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        in_ch = width
    return nn.Sequential(*layers)


class ResNet(nn.Module):
    """ResNet with a named stem, `len(depths)` stages of width 64·2^i, and optional shortcuts."""

    def __init__(
        self,
        depths: tuple[int, ...] = (2, 2, 2, 2),
        block: str = "basic",
        stem: str = "7x7",
        shortcut: bool = True,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        spec, block_cls = STEMS[stem], BLOCKS[block]
        self.conv1 = stem_convs(spec)
        self.bn1 = nn.BatchNorm2d(spec.widths[-1])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1) if spec.maxpool else nn.Identity()
        in_ch = spec.widths[-1]
        for i, depth in enumerate(depths):
            width, stride = 64 * 2**i, 1 if i == 0 else 2
            blocks = []
            for j in range(depth):
                blocks.append(block_cls(in_ch, width, stride if j == 0 else 1, shortcut))
                in_ch = width * block_cls.expansion
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.num_stages = len(depths)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def init_weights(model: nn.Module) -> None:
    """He-normal (fan-out) convs and unit BatchNorm, the initialisation torchvision's ResNet uses."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
