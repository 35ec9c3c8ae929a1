"""`cifar10`, `cifar100`: the original python pickles under `--data-root` (default ./data), downloaded when missing
and the network allows (never with BENCH_OFFLINE=1)."""
from __future__ import annotations

import os
import pickle
from functools import partial
from pathlib import Path

from ...core.errors import UsageError
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


def read_cifar_batch(path: Path, label_key: bytes):
    """One pickled CIFAR batch: N×3072 uint8 rows (R, G, B planes of 32×32) and their labels."""
    import numpy as np
    import torch

    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    images = torch.from_numpy(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
    return images, torch.tensor(batch[label_key], dtype=torch.int64)


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
    parts = [read_cifar_batch(path / f, label_key) for f in train_files]
    test_x, test_y = read_cifar_batch(path / test_file, label_key)
    with open(path / meta_file, "rb") as f:
        classes = [n.decode() for n in pickle.load(f, encoding="bytes")[names_key]]
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
