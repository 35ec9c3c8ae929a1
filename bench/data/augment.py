"""Augmentation and normalisation of whole uint8 batches on the training device: random crop (zero padding),
horizontal flip, normalisation into float. On a CPU each image's crop is a slice copy and buffers are reused; on a
GPU one gather does the batch. Both give the same bytes for the same draws."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config.recipe import AUGMENTS
from .base import DataSet


def crop_offsets(images: torch.Tensor, pad: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image's window offset in the zero-padded image, rows then columns (0..2·pad), from `generator`."""
    b = len(images)
    dy = torch.randint(0, 2 * pad + 1, (b, 1), generator=generator, device=generator.device).to(images.device)
    dx = torch.randint(0, 2 * pad + 1, (b, 1), generator=generator, device=generator.device).to(images.device)
    return dy, dx


def random_crop(images: torch.Tensor, pad: int, generator: torch.Generator, out: torch.Tensor | None = None
                ) -> torch.Tensor:
    """Zero-pad by `pad` and cut a random window of the original size from each image.

    On a GPU one gather does the whole batch; on a CPU, where that gather costs ~20× a copy at 224 px, each
    image's window is copied by slicing into `out` (reused between batches when given). Both give the same
    bytes for the same draws (tests.test_data checks it)."""
    dy, dx = crop_offsets(images, pad, generator)
    if images.device.type != "cpu":
        return gathered_crop(images, pad, dy, dx)
    b, c, h, w = images.shape
    out = torch.empty_like(images) if out is None else out
    out.zero_()
    for i, (y, x) in enumerate(zip((dy[:, 0] - pad).tolist(), (dx[:, 0] - pad).tolist())):
        # out[i, :, r, s] = images[i, :, r + y, s + x] wherever that source pixel exists, else the zero padding
        out[i, :, max(0, -y):h - max(0, y), max(0, -x):w - max(0, x)] = \
            images[i, :, max(0, y):h - max(0, -y), max(0, x):w - max(0, -x)]
    return out


def gathered_crop(images: torch.Tensor, pad: int, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """The windows at offsets (dy, dx) of the zero-padded images, in one gather (the GPU's way)."""
    b, c, h, w = images.shape
    device = images.device
    padded = F.pad(images, (pad, pad, pad, pad))
    rows = (dy + torch.arange(h, device=device))[:, None, :, None]
    cols = (dx + torch.arange(w, device=device))[:, None, None, :]
    batch = torch.arange(b, device=device)[:, None, None, None]
    channel = torch.arange(c, device=device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2 (on a CPU in place, image by image)."""
    flip = torch.rand(len(images), generator=generator, device=generator.device).to(images.device) < 0.5
    if images.device.type != "cpu":
        return torch.where(flip[:, None, None, None], images.flip(3), images)
    for i in flip.nonzero()[:, 0].tolist():
        images[i] = images[i].flip(2)
    return images


def normalize(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, out: torch.Tensor | None = None
              ) -> torch.Tensor:
    """uint8 → float, scaled to [0, 1], then standardised per channel; into `out` when given (a CPU reuses one
    buffer: a fresh tensor of a 224 px batch costs more in page faults than the arithmetic)."""
    if out is None:
        return (images.float().div_(255) - mean) / std
    return out.copy_(images).div_(255).sub_(mean).div_(std)  # the same operations in the same order, in place


class Preprocess:
    """Turns uint8 batches into model inputs: augmentation (training only) and normalisation."""

    def __init__(self, data: DataSet, augment: str, device: torch.device, generator: torch.Generator) -> None:
        if augment not in AUGMENTS:
            raise ValueError(f"unknown augmentation preset '{augment}'; use {', '.join(AUGMENTS)}")
        self.crop = augment != "none"
        self.flip = augment == "crop-flip" and data.hflip
        self.mean = torch.tensor(data.mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(data.std, device=device).view(1, 3, 1, 1)
        self.generator, self.device = generator, device
        self.buffers: dict[tuple[str, tuple[int, ...]], torch.Tensor] = {}

    def train(self, images: torch.Tensor) -> torch.Tensor:
        if self.crop:
            images = random_crop(images, pad=max(1, images.shape[-1] // 8), generator=self.generator,
                                 out=self.buffer(images.shape, torch.uint8, "crop"))
        if self.flip:
            images = random_flip(images if self.crop else images.clone(), self.generator)
        return normalize(images, self.mean, self.std, out=self.buffer(images.shape, torch.float32, "train"))

    def eval(self, images: torch.Tensor) -> torch.Tensor:
        return normalize(images, self.mean, self.std, out=self.buffer(images.shape, torch.float32, "eval"))

    def buffer(self, shape: torch.Size, dtype: torch.dtype, use: str) -> torch.Tensor | None:
        """On a CPU, one output tensor per use and shape, reused from batch to batch (the previous batch's step is
        over when the next is prepared: CPU work is synchronous); elsewhere None, a fresh tensor each time (the
        CUDA allocator caches its blocks, and kernels still queued may read the last one)."""
        if self.device.type != "cpu":
            return None
        key = (use, tuple(shape))
        if key not in self.buffers:
            self.buffers[key] = torch.empty(shape, dtype=dtype)
        return self.buffers[key]
