"""The MNIST family in its original IDX files (LeCun's format): `mnist` and `fashion-mnist`.

Found under `--data-root` in torchvision's layout (`<root>/MNIST/raw/`, `<root>/FashionMNIST/raw/`), or directly
in `<root>/<folder>/` or `<root>/`, gzipped or not; Fashion-MNIST also where Debian's `dataset-fashion-mnist`
package puts it. Nothing is downloaded.
"""
from __future__ import annotations

import gzip
import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from ...core.errors import UsageError
from ...core.hashing import digest
from ..kind import DataKind

# The IDX header's third byte: the element type (big-endian where it matters).
IDX_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
             0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
SPLIT_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@dataclass(frozen=True)
class IdxSet:
    """One data set of the family: torchvision's folder name, class names, whether a mirror image keeps the label."""

    folder: str
    classes: tuple[str, ...]
    hflip: bool
    system: Path | None = None  # where a distribution package installs the files


IDX_SETS = {
    "mnist": IdxSet("MNIST", tuple(str(i) for i in range(10)), hflip=False),  # a mirrored 2 is no 2
    "fashion-mnist": IdxSet("FashionMNIST", ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                             "Sneaker", "Bag", "Ankle boot"), hflip=True, system=DEBIAN_FASHION),
}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzipped) as an array of its declared type and shape; a malformed file is one line."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise UsageError(f"cannot read '{path}': {exc}; replace the file") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        raise UsageError(f"'{path}' is not an IDX file (its first bytes are not an IDX magic number); replace it")
    dtype, ndim = IDX_TYPES[data[2]], data[3]
    head = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(shape) * dtype.itemsize
    if len(data) - head != expected:
        raise UsageError(f"'{path}' holds {len(data) - head} bytes of data but its header promises {expected} "
                         f"(shape {shape}): the file is truncated or damaged; replace it")
    return np.frombuffer(data, dtype, offset=head).reshape(shape)


def candidate_folders(name: str, data_root: Path | None) -> list[Path]:
    """Where `name`'s files are looked for, in order."""
    spec = IDX_SETS[name]
    folders = []
    if data_root is not None:  # a folder given is the only place looked in
        folders += [data_root / spec.folder / "raw", data_root / spec.folder, data_root]
    elif spec.system is not None:
        folders.append(spec.system)
    return folders


def find_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def locate(name: str, data_root: Path | None) -> dict[str, Path]:
    """The four IDX files of `name` (train/test × images/labels), from the first folder that has all four."""
    for folder in candidate_folders(name, data_root):
        found = {stem: find_file(folder, stem) for pair in SPLIT_FILES.values() for stem in pair}
        if all(found.values()):
            return found  # type: ignore[return-value]
    spec = IDX_SETS[name]
    where = ", ".join(str(f) for f in candidate_folders(name, data_root)) or "nowhere: no --data-root given"
    hint = " or install Debian's dataset-fashion-mnist package" if spec.system else ""
    raise UsageError(f"{name} not found: put its four IDX files ({', '.join(f for p in SPLIT_FILES.values() for f in p)}, "
                     f"gzipped or not) in {spec.folder}/raw/ under --data-root{hint}; looked in {where}")


def load_split(files: dict[str, Path], split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N×H×W uint8) and labels (N int64) of one split, checked against each other."""
    images_file, labels_file = (files[stem] for stem in SPLIT_FILES[split])
    images, labels = read_idx(images_file), read_idx(labels_file)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise UsageError(f"'{images_file}' holds {images.dtype} data of shape {images.shape}, not N×H×W uint8 images")
    if labels.ndim != 1 or len(labels) != len(images):
        raise UsageError(f"'{labels_file}' holds {labels.shape} labels for {len(images)} images in '{images_file}'")
    return images, labels.astype(np.int64)


def load(name: str, arg: str, root: Path | None, size: int, seed: int, val_fraction: float, device,
         decode: bool = True, limits=None):
    """MNIST or Fashion-MNIST from their IDX files: 28 px gray images, resized and made 3-channel like digits."""
    import torch

    from ..base import NO_LIMITS, tensor_dataset

    files = locate(name, Path(root) if root else None)
    (train_x, train_y), (test_x, test_y) = load_split(files, "train"), load_split(files, "test")
    spec = IDX_SETS[name]
    data = tensor_dataset(name, list(spec.classes), torch.from_numpy(train_x.copy())[:, None], torch.from_numpy(train_y),
                          torch.from_numpy(test_x.copy())[:, None], torch.from_numpy(test_y), size, seed, val_fraction,
                          device, hflip=spec.hflip, mode="L", limits=limits or NO_LIMITS)
    data.origin = str(next(iter(files.values())).parent)
    return data


def identity(name: str, arg: str, root: Path | None) -> dict[str, object]:
    """Kind, folder and the sha256 of each of the four files."""
    files = locate(name, Path(root) if root else None)
    from ..content import content_digests

    stems = sorted(files)
    shas = content_digests([files[s] for s in stems])
    return {"kind": name, "path": str(next(iter(files.values())).parent.resolve()),
            "content": digest(dict(zip(stems, shas)))}


KINDS = [
    DataKind("mnist", "MNIST from its four IDX files under --data-root (torchvision's layout or plain); official "
             "test split (10,000)", partial(load, "mnist"), partial(identity, "mnist")),
    DataKind("fashion-mnist", "Fashion-MNIST likewise, or from Debian's dataset-fashion-mnist package; official "
             "test split (10,000)", partial(load, "fashion-mnist"), partial(identity, "fashion-mnist")),
]
