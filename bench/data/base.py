"""What every data set is behind one interface: splits of uint8 images on the training device, batched there.

Small sets (digits, MNIST, CIFAR, fake) live whole on the device and batches are index slices of them (as in
airbench); image folders and CSV sets (bench.data.kinds.files) are gathered batch by batch from the image cache.
Either way a batch arrives as uint8 N×3×H×W, and cropping, flipping and normalisation (bench.data.augment) run on
the whole batch at once, never per image in Python.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from .check import Summary, counts

Batch = tuple[torch.Tensor, torch.Tensor]
TEST_SPLIT_SEED = 0  # where a data set has no test split, it is carved once, the same for every run
CARVED_TEST_FRACTION = 0.2  # the share of such a data set that becomes its test split


class Source(Protocol):
    """One split: its size, and its batches of uint8 images and int64 labels on the device."""

    def __len__(self) -> int: ...

    def targets(self) -> np.ndarray: ...

    def batches(self, batch_size: int, generator: torch.Generator | None = None, drop_last: bool = False
                ) -> Iterator[Batch]: ...

    def subset(self, index: np.ndarray) -> "Source":
        """The same split narrowed to the images at positions `index`."""

    def nbytes(self) -> int:
        """Bytes of this split's images and labels."""


@dataclass
class DataSet:
    """A data set's splits and what the training loop needs to know about it."""

    name: str
    classes: list[str]
    train: Source
    val: Source
    test: Source
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    hflip: bool  # whether a horizontal flip keeps the label (not for digits)
    synthetic: bool = False
    sizes: Counter = field(default_factory=Counter)  # of the images as stored: "W×H" -> count
    modes: Counter = field(default_factory=Counter)  # PIL mode -> count
    stats: str = "training split"  # where `mean` and `std` come from
    origin: str = ""  # where it was read from: a folder or file, or how it was made

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def nbytes(self) -> int:
        """Bytes of the images and labels of the three splits as the run holds them (or maps them, from the image
        cache)."""
        return sum(getattr(self, split).nbytes() for split in ("train", "val", "test"))

    def summary(self) -> Summary:
        """Classes, images per class per split, image sizes and modes."""
        per_class = {split: counts(getattr(self, split).targets(), self.num_classes) for split in ("train", "val", "test")}
        return Summary(self.name, self.classes, per_class, self.sizes, self.modes, self.origin)


class TensorSource:
    """A split held whole on the device; batches are index slices of it."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def targets(self) -> np.ndarray:
        return self.labels.cpu().numpy()

    def batches(self, batch_size: int, generator: torch.Generator | None = None, drop_last: bool = False
                ) -> Iterator[Batch]:
        for index in batch_indices(len(self), batch_size, generator, drop_last, self.labels.device):
            yield self.images[index], self.labels[index]

    def subset(self, index: np.ndarray) -> "TensorSource":
        picked = torch.as_tensor(index, dtype=torch.int64, device=self.labels.device)
        return TensorSource(self.images[picked], self.labels[picked])

    def nbytes(self) -> int:
        return self.images.nbytes + self.labels.nbytes


def batch_indices(n: int, batch_size: int, generator: torch.Generator | None, drop_last: bool,
                  device: torch.device | str) -> Iterator[torch.Tensor]:
    """The positions of each batch of a split of `n` images, on `device`: in order, or shuffled by `generator`
    (drawn on the generator's own device, so the same seed gives the same order wherever the data lives)."""
    order = torch.arange(n, device=device) if generator is None else torch.randperm(
        n, generator=generator, device=generator.device).to(device)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held out): `fraction` of every class held out, chosen by `seed`."""
    rng = np.random.default_rng(seed)
    held = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        held.append(members[: int(round(fraction * len(members)))])
    held_idx = np.sort(np.concatenate(held)) if held else np.array([], dtype=int)
    kept_idx = np.setdiff1d(np.arange(len(labels)), held_idx)
    return kept_idx, held_idx


def stratified_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted positions of exactly min(`n`, len(labels)) images, each class's count within 1 of its share of `n`
    (largest remainders take the spare places), the members of each class chosen by `seed`."""
    if n >= len(labels):
        return np.arange(len(labels))
    classes, sizes = np.unique(labels, return_counts=True)
    quota = sizes * n / len(labels)
    take = np.floor(quota).astype(int)
    spare = n - int(take.sum())
    take[np.argsort(-(quota - take), kind="stable")[:spare]] += 1
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take)]
    return np.sort(np.concatenate(picked))


def limited(data: DataSet, train_limit: int | None, test_limit: int | None, seed: int) -> DataSet:
    """`data` with `train_limit` training images (class-stratified, chosen by the run's `seed`; the validation
    split shrinks in the same proportion) and `test_limit` test images (stratified, the same for every run)."""
    if train_limit is not None and train_limit < len(data.train):
        val_n = round(len(data.val) * train_limit / len(data.train))
        data.val = data.val.subset(stratified_subset(data.val.targets(), val_n, seed))
        data.train = data.train.subset(stratified_subset(data.train.targets(), train_limit, seed))
    if test_limit is not None and test_limit < len(data.test):
        data.test = data.test.subset(stratified_subset(data.test.targets(), test_limit, TEST_SPLIT_SEED))
    return data


def resize_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize of a uint8 N×C×H×W tensor (no-op at the same size)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = F.interpolate(images.float(), size=(size, size), mode="bilinear", align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images, on the [0, 1] scale."""
    x = images.float().div(255).transpose(0, 1).reshape(3, -1)
    return tuple(x.mean(1).tolist()), tuple(x.std(1).clamp_min(1e-3).tolist())


@dataclass(frozen=True)
class Limits:
    """The recipe's `train_limit` and `test_limit`: how many images of each split a run uses (None: all)."""

    train: int | None = None
    test: int | None = None


NO_LIMITS = Limits()


def tensor_dataset(name: str, classes: list[str], train_x: torch.Tensor, train_y: torch.Tensor,
                   test_x: torch.Tensor, test_y: torch.Tensor, size: int, seed: int, val_fraction: float,
                   device: torch.device, hflip: bool, synthetic: bool = False, mode: str = "RGB",
                   limits: Limits = NO_LIMITS) -> DataSet:
    """Carve the validation split from train, narrow each split to `limits` (as `limited` does), then resize and
    move to the device only the images the run uses. Images are uint8 N×C×H×W with C = 3, or 1 for gray (made
    3-channel after resizing, so the resize works on one channel). Mean and std are of the run's training images."""
    stored = Counter({f"{train_x.shape[-1]}×{train_x.shape[-2]}": len(train_x) + len(test_x)})
    labels = train_y.numpy()
    kept, held = stratified_split(labels, val_fraction, seed)
    if limits.train is not None and limits.train < len(kept):  # the same images `limited` would keep
        val_n = round(len(held) * limits.train / len(kept))
        held = held[stratified_subset(labels[held], val_n, seed)]
        kept = kept[stratified_subset(labels[kept], limits.train, seed)]
    tested = np.arange(len(test_y)) if limits.test is None else stratified_subset(test_y.numpy(), limits.test,
                                                                                    TEST_SPLIT_SEED)

    def source(x: torch.Tensor, y: torch.Tensor, index: np.ndarray) -> TensorSource:
        picked = torch.from_numpy(index)
        images = resize_uint8(x[picked], size).expand(-1, 3, -1, -1)  # gray: 1 → 3
        return TensorSource(images.contiguous().to(device), y[picked].to(device))

    train = source(train_x, train_y, kept)
    mean, std = channel_stats(train.images)
    return DataSet(name, classes, train, source(train_x, train_y, held), source(test_x, test_y, tested), mean, std,
                   hflip, synthetic, stored, Counter({mode: sum(stored.values())}))
