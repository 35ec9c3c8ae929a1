"""The pre-activation CIFAR nets of the plain-vs-residual study (He et al. 2016, "Identity Mappings").

A 3×3 stem to 8 channels, three stages of pre-activation blocks (BN→ReLU→conv), downsampling by
stride 2 in the first block of stages 2 and 3, then BN→ReLU→global pool→linear.
"""
from __future__ import annotations

import torch
from torch import nn

from .resnet import conv1x1, conv3x3, init_weights


class PreActBlock(nn.Module):
    """Two pre-activated 3×3 convs; the shortcut is the identity, a 1×1 conv when shapes change, or absent."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, shortcut: bool = True) -> None:
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(in_ch), conv3x3(in_ch, out_ch, stride)
        self.bn2, self.conv2 = nn.BatchNorm2d(out_ch), conv3x3(out_ch, out_ch)
        self.add_shortcut(in_ch, out_ch, stride, shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = torch.relu(self.bn1(x))
        out = self.conv2(torch.relu(self.bn2(self.conv1(pre))))
        return out + self._skip(x, pre) if self.shortcut else out

    def add_shortcut(self, in_ch: int, out_ch: int, stride: int, shortcut: bool) -> None:
        """Identity when shapes match, else a 1×1 conv (strided when downsampling); none for a plain net."""
        self.shortcut = shortcut
        self.projection = conv1x1(in_ch, out_ch, stride) if shortcut and (stride != 1 or in_ch != out_ch) else None

    def extra_repr(self) -> str:
        return f"shortcut={self.shortcut}"

    def branch_end(self) -> nn.Module:
        """The residual branch's last layer: a pre-activation branch ends in a convolution."""
        return self.conv3 if hasattr(self, "conv3") else self.conv2

    def _skip(self, x: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
        # The projection sees the pre-activated input, as in the pre-activation paper.
        return x if self.projection is None else self.projection(pre)


class PreActBottleneck(PreActBlock):
    """Pre-activated 1×1 to C/4, 3×3 (with the stride), 1×1 back to C."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, shortcut: bool = True) -> None:
        nn.Module.__init__(self)
        mid = out_ch // 4
        self.bn1, self.conv1 = nn.BatchNorm2d(in_ch), conv1x1(in_ch, mid)
        self.bn2, self.conv2 = nn.BatchNorm2d(mid), conv3x3(mid, mid, stride)
        self.bn3, self.conv3 = nn.BatchNorm2d(mid), conv1x1(mid, out_ch)
        self.add_shortcut(in_ch, out_ch, stride, shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = torch.relu(self.bn1(x))
        out = self.conv1(pre)
        out = self.conv2(torch.relu(self.bn2(out)))
        out = self.conv3(torch.relu(self.bn3(out)))
        return out + self._skip(x, pre) if self.shortcut else out


CIFAR_BLOCKS: dict[str, type[PreActBlock]] = {"basic": PreActBlock, "bottleneck": PreActBottleneck}


class CifarNet(nn.Module):
    """Stem, three stages of `blocks_per_stage` pre-activation blocks at `widths`, and a linear classifier."""

    def __init__(
        self,
        widths: tuple[int, int, int] = (8, 16, 32),
        blocks_per_stage: int = 5,
        block: str = "basic",
        shortcut: bool = True,
        stem_width: int = 8,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        block_cls = CIFAR_BLOCKS[block]
        self.stem = conv3x3(3, stem_width)
        stages, in_ch = [], stem_width
        for i, width in enumerate(widths):
            blocks = []
            for j in range(blocks_per_stage):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(block_cls(in_ch, width, stride, shortcut))
                in_ch = width
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(in_ch)
        self.fc = nn.Linear(in_ch, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.stages(self.stem(x))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))
