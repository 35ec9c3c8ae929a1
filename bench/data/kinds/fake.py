"""`fake`: random uint8 images in 10 classes, for smoke runs; every row says dataset fake, synthetic_data true."""
from __future__ import annotations

from pathlib import Path

from ..kind import DataKind

VERSION = "800 uniform random uint8 images, generator seed 0, labels i mod 10, last 160 = test; v1"


def load(arg: str, root: Path | None, size: int, seed: int, val_fraction: float, device, decode: bool = True,
         limits=None):
    import torch

    from ..base import NO_LIMITS, TEST_SPLIT_SEED, tensor_dataset

    g = torch.Generator().manual_seed(TEST_SPLIT_SEED)
    x = torch.randint(0, 256, (800, 3, size, size), generator=g, dtype=torch.uint8)
    y = torch.arange(800) % 10
    data = tensor_dataset("fake", [f"class{i}" for i in range(10)], x[:640], y[:640], x[640:], y[640:],
                          size, seed, val_fraction, device, hflip=True, synthetic=True, limits=limits or NO_LIMITS)
    data.origin = "random pixels made in memory"
    return data


KINDS = [DataKind("fake", "random images, 10 classes, for smoke runs (accuracies mean nothing)", load,
                  lambda arg, root: {"kind": "fake", "version": VERSION})]
