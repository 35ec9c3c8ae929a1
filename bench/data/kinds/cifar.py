"""`cifar10`, `cifar100`: the original python pickles under `--data-root` (default ./data), downloaded when missing
and the network allows (never with BENCH_OFFLINE=1).

The files are read as data: through an unpickler that builds only what a CIFAR batch holds (a dict of byte strings,
numbers, lists and one uint8 numpy array), so a planted file cannot run code; a file that asks for anything else is
refused in one line naming it. Each file's md5 is compared with the official one, and a copy that differs (re-packed
or modified) is named in one line; it is still read, through the same unpickler."""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import sys
from functools import cache, partial
from pathlib import Path

from ...core.errors import UsageError, error_line
from ...core.hashing import digest
from ..kind import DataKind

CIFAR = {
    # name: folder, train files, test file, meta file, label key, names key, archive url, archive md5
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch", "batches.meta",
                b"labels", b"label_names", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                "c58f30108f718f92721af3b95e74349a"),
    "cifar100": ("cifar-100-python", ["train"], "test", "meta", b"fine_labels", b"fine_label_names",
                 "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85"),
}
# The md5 of each file of the official archives, as torchvision.datasets.CIFAR10 and CIFAR100 list them (their
# train_list, test_list and meta).
OFFICIAL_MD5 = {
    "cifar10": {"data_batch_1": "c99cafc152244af753f735de768cd75f", "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
                "data_batch_3": "54ebc095f3ab1f0389bbae665268c751", "data_batch_4": "634d18415352ddfa80567beed471001a",
                "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb", "test_batch": "40351d587109b95175f43aff81a1287e",
                "batches.meta": "5ff9c542aee3614f3951f8cda6e48888"},
    "cifar100": {"train": "16019d7e3df5f24257cddd939b257f8d", "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
                 "meta": "7973b15100ade9c7d40fb424638fde48"},
}
PIXELS = 3 * 32 * 32  # one image's row in a batch: the R, G and B planes of 32×32


def latin1(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """What `_codecs.encode` does in a Python 3 pickle of bytes (protocol 2 writes them so), for latin-1 only."""
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r}")
    return text.encode("latin1", errors)


@cache
def allowed_globals() -> dict[tuple[str, str], object]:
    """Every global a CIFAR batch names, and what it stands for: numpy's array and dtype reconstruction (named
    numpy.core by the originals, pickled by Python 2's cPickle, and numpy._core by numpy 2), numpy's protocol-5
    buffer reader, and the byte-string encoding of Python 3's protocol 2. Nothing else."""
    import numpy as np

    reconstruct = np.zeros(0).__reduce__()[0]  # numpy's own pickles name this function, under either module
    frombuffer = np.zeros(0).__reduce_ex__(5)[0]
    return {**{(f"numpy.{core}.multiarray", "_reconstruct"): reconstruct for core in ("core", "_core")},
            **{(f"numpy.{core}.numeric", "_frombuffer"): frombuffer for core in ("core", "_core")},
            ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype, ("_codecs", "encode"): latin1}


class DataUnpickler(pickle.Unpickler):
    """An unpickler that builds plain data and numpy arrays, and refuses every other global a file names."""

    def find_class(self, module: str, name: str) -> object:
        found = allowed_globals().get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"it asks for {module}.{name}, which a CIFAR batch never holds")
        return found


def read_pickle(path: Path, md5s: dict[str, str]) -> object:
    """A CIFAR file's content, read as data (DataUnpickler); its md5 goes into `md5s`. A file that is not a
    pickle of plain data is one line naming it."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read '{path}': {exc.strerror or exc}") from None
    md5s[path.name] = hashlib.md5(raw).hexdigest()
    try:
        return DataUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as exc:  # a refused global, a truncated or garbled file: whatever it is, it is not a batch
        raise UsageError(f"'{path}' was refused, not read: {error_line(exc)}; a CIFAR file holds only data (replace "
                         "it with the file from the official archive)") from None


def batch_content(batch: object, path: Path, label_key: bytes, num_classes: int):
    """The images (N×3072 uint8 numpy array) and labels (N ints in 0..num_classes-1) of an unpickled batch; any
    other shape is one line naming the file."""
    import numpy as np

    def bad(why: str) -> UsageError:
        return UsageError(f"'{path}' is not a CIFAR batch ({why}); replace it with the file from the official archive")

    if not isinstance(batch, dict):
        raise bad(f"it holds a {type(batch).__name__}, not a dict")
    images, labels = batch.get(b"data"), batch.get(label_key)
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != PIXELS:
        raise bad(f"its {b'data'!r} is not an N×{PIXELS} uint8 array")
    if isinstance(labels, np.ndarray) and labels.ndim == 1 and labels.dtype.kind in "iu":  # a re-packed copy's
        labels = labels.tolist()
    if not isinstance(labels, list) or len(labels) != len(images):
        raise bad(f"its {label_key!r} is not a list of {len(images)} labels")
    if not all(type(y) is int and 0 <= y < num_classes for y in labels):
        raise bad(f"its {label_key!r} holds something other than class numbers 0-{num_classes - 1}")
    return images, labels


def read_cifar_batch(path: Path, label_key: bytes, num_classes: int, md5s: dict[str, str]):
    """One pickled CIFAR batch: N×3072 uint8 rows (R, G, B planes of 32×32) and their labels."""
    import torch

    images, labels = batch_content(read_pickle(path, md5s), path, label_key, num_classes)
    if not images.flags.writeable:  # read from a protocol-5 buffer
        images = images.copy()
    return torch.from_numpy(images.reshape(-1, 3, 32, 32)), torch.tensor(labels, dtype=torch.int64)


def read_class_names(path: Path, names_key: bytes, md5s: dict[str, str]) -> list[str]:
    """The class names of a CIFAR meta file."""
    meta = read_pickle(path, md5s)
    names = meta.get(names_key) if isinstance(meta, dict) else None
    if not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, bytes) for n in names):
        raise UsageError(f"'{path}' is not a CIFAR meta file (no list of class names under {names_key!r}); replace "
                         "it with the file from the official archive")
    return [n.decode("utf-8", "replace") for n in names]


def note_modified(name: str, folder: Path, md5s: dict[str, str]) -> None:
    """One line naming the files whose md5 is not the official one (a re-packed or modified copy), if any."""
    differ = [f for f, md5 in md5s.items() if md5 != OFFICIAL_MD5[name].get(f)]
    if differ:
        print(f"bench: {name} in '{folder}': {', '.join(differ)} not the official file{'s' * (len(differ) > 1)} "
              "(md5 differs from the archive's); read as your own copy, as data only", file=sys.stderr)


def ensure_cifar(name: str, root: Path) -> Path:
    """The extracted CIFAR folder under `root`, downloaded first when missing and the network allows."""
    folder, *_, url, md5 = CIFAR[name]
    path = root / folder
    if path.is_dir():
        return path
    message = (f"{name} not found: put the extracted {os.path.basename(url)} at {path} "
               f"(or choose another --data-root)")
    if os.environ.get("BENCH_OFFLINE"):
        raise UsageError(message)
    try:
        from torchvision.datasets.utils import download_and_extract_archive

        download_and_extract_archive(url, str(root), md5=md5)
    except Exception:  # no network, refused, or a broken archive: say where the files go
        raise UsageError(message + "; downloading it failed") from None
    return path


def root_of(data_root: Path | None) -> Path:
    return Path(data_root) if data_root else Path("data")


def load(name: str, arg: str, root: Path | None, size: int, seed: int, val_fraction: float, device,
         decode: bool = True, limits=None):
    """CIFAR-10/100 from their original pickled batches."""
    import torch

    from ..base import NO_LIMITS, tensor_dataset

    folder, train_files, test_file, meta_file, label_key, names_key, *_ = CIFAR[name]
    path = ensure_cifar(name, root_of(root))
    md5s: dict[str, str] = {}
    classes = read_class_names(path / meta_file, names_key, md5s)
    parts = [read_cifar_batch(path / f, label_key, len(classes), md5s) for f in train_files]
    test_x, test_y = read_cifar_batch(path / test_file, label_key, len(classes), md5s)
    note_modified(name, path, md5s)
    data = tensor_dataset(name, classes, torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]),
                          test_x, test_y, size, seed, val_fraction, device, hflip=True, limits=limits or NO_LIMITS)
    data.origin = str(path)
    return data


def identity(name: str, arg: str, root: Path | None) -> dict[str, object]:
    """Kind, folder and a fingerprint of the batch files (fetched first when missing, so that it is of the files
    the runs will read)."""
    folder, train_files, test_file, meta_file, *_ = CIFAR[name]
    path = ensure_cifar(name, root_of(root))
    files = [path / f for f in [*train_files, test_file, meta_file]]
    from ..content import content_digests

    present = [f for f in files if f.is_file()]
    shas = dict(zip(present, content_digests(present)))
    listing = [(f.name, f.stat().st_size, shas[f]) if f.is_file() else (f.name, "missing") for f in files]
    return {"kind": name, "path": str(path.resolve()), "content": digest(listing)}


KINDS = [DataKind(name, f"{label}: the original python pickles under --data-root; official test split",
                  partial(load, name), partial(identity, name))
         for name, label in (("cifar10", "CIFAR-10"), ("cifar100", "CIFAR-100"))]
