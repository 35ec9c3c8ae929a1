"""`digits`: scikit-learn's bundled 1,797 8×8 handwritten digits, as 3-channel uint8 images."""
from __future__ import annotations

from pathlib import Path

from ..kind import DataKind

# digits is small: half of it (899 images) is the test split, so a 1-point accuracy gap is ~9 images, not ~4.
DIGITS_TEST_FRACTION = 0.5
# Identified by a version string: change it whenever the loader changes what it yields.
VERSION = "scikit-learn digits.csv.gz, 1,797 8x8 images scaled x255/16; test = stratified half, seed 0; v1"


def digits_file() -> Path:
    """scikit-learn's bundled digits.csv.gz: 64 pixel columns (0..16) and the label, one image a row."""
    import importlib.util

    from ...core.errors import UsageError

    spec = importlib.util.find_spec("sklearn")  # locate, not import: importing sklearn costs seconds per run
    if spec is None or spec.origin is None:
        raise UsageError("the digits data set comes with scikit-learn: pip install scikit-learn")
    return Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"


def load(arg: str, root: Path | None, size: int, seed: int, val_fraction: float, device, decode: bool = True,
         limits=None):
    """The 1,797 digits; a fixed stratified half is the test split."""
    import numpy as np
    import torch

    from ..base import NO_LIMITS, TEST_SPLIT_SEED, stratified_split, tensor_dataset

    table = np.loadtxt(digits_file(), delimiter=",")
    images = torch.from_numpy(np.round(table[:, :64] * (255 / 16)).astype(np.uint8)).view(-1, 1, 8, 8).repeat(1, 3, 1, 1)
    labels = torch.from_numpy(table[:, 64].astype(np.int64))
    train_idx, test_idx = (torch.from_numpy(i) for i in stratified_split(labels.numpy(), DIGITS_TEST_FRACTION,
                                                                          TEST_SPLIT_SEED))
    data = tensor_dataset("digits", [str(i) for i in range(10)], images[train_idx], labels[train_idx],
                          images[test_idx], labels[test_idx], size, seed, val_fraction, device, hflip=False, mode="L",
                          limits=limits or NO_LIMITS)
    data.origin = str(digits_file())
    return data


def identity(arg: str, root: Path | None) -> dict[str, object]:
    """The loader's version and the bytes of scikit-learn's file (another scikit-learn may ship other digits)."""
    from ..content import content_digests

    return {"kind": "digits", "version": VERSION, "content": content_digests([digits_file()])[0]}


KINDS = [DataKind("digits", "scikit-learn's bundled 8×8 digits (1,797 images, 10 classes); the default", load,
                  identity)]
