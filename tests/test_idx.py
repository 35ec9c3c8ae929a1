"""MNIST and Fashion-MNIST from their IDX files: files written here byte by byte in the real format, then loaded."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.data.registry import data_identity, load_dataset
from bench.core.errors import UsageError
from bench.data.kinds.idx import DEBIAN_FASHION, read_idx


def idx_bytes(array: np.ndarray) -> bytes:
    """LeCun's format: two zero bytes, the type code (0x08 = unsigned byte), the dimension count, each dimension as
    a big-endian 32-bit integer, then the data in row-major order."""
    return struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + \
        array.astype(np.uint8).tobytes()


def write_idx_set(folder: Path, train: int, test: int, gz: bool = False, seed: int = 0) -> dict[str, np.ndarray]:
    """The four files of an MNIST-style set of random 28×28 images, labels cycling 0..9; returns the arrays."""
    rng = np.random.default_rng(seed)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (train, 28, 28)),
              "train-labels-idx1-ubyte": np.arange(train) % 10,
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (test, 28, 28)),
              "t10k-labels-idx1-ubyte": (np.arange(test) * 3) % 10}
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        data = idx_bytes(array)
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    return arrays


@pytest.mark.parametrize("layout, gz", [("FashionMNIST/raw", True), ("FashionMNIST", False), ("", False)])
def test_fashion_mnist_loads_what_the_files_hold(tmp_path, layout, gz):
    arrays = write_idx_set(tmp_path / layout, train=100, test=30, gz=gz)
    data = load_dataset("fashion-mnist", tmp_path, 28, 0, 0.2, torch.device("cpu"))
    assert data.classes[0] == "T-shirt/top" and data.classes[9] == "Ankle boot" and data.hflip
    test_images = data.test.images.numpy()
    assert test_images.shape == (30, 3, 28, 28)
    for channel in range(3):  # gray, repeated into three equal channels
        assert (test_images[:, channel] == arrays["t10k-images-idx3-ubyte"]).all()
    assert (data.test.labels.numpy() == arrays["t10k-labels-idx1-ubyte"]).all()
    # train + val hold the training file's images, each once, with its own label
    seen = np.concatenate([data.train.images.numpy(), data.val.images.numpy()])[:, 0]
    labels = np.concatenate([data.train.labels.numpy(), data.val.labels.numpy()])
    written = arrays["train-images-idx3-ubyte"].reshape(100, -1)
    order = [int(np.flatnonzero((written == image.reshape(-1)).all(1))[0]) for image in seen]
    assert sorted(order) == list(range(100)) and (labels == arrays["train-labels-idx1-ubyte"][order]).all()
    assert len(data.val) == 20  # 20% of each class's 10 images
    assert data.summary().lines()[1] == f"  read from {tmp_path / layout}"  # the folder read, named


def test_train_limit_on_fashion_mnist_sizes_is_what_the_readme_says(tmp_path):
    """Fashion-MNIST's 60,000 + 10,000 images (written blank, at its real size) with train_limit=5000: exactly
    5,000 training images, the 12,000 validation images cut in proportion, the 10,000 test images whole."""
    from tests.test_readme import README

    write_idx_set(tmp_path / "FashionMNIST" / "raw", train=60_000, test=10_000)
    data = load_dataset("fashion-mnist", tmp_path, 8, 0, 0.2, torch.device("cpu"), train_limit=5000)
    train, val, test = len(data.train), len(data.val), len(data.test)
    assert (train, val, test) == (5000, round(12_000 * 5000 / 48_000), 10_000)
    assert f"`{train:,} train / {val:,} val / {test:,} test images`" in " ".join(README.split())


def test_mnist_is_not_flipped_and_is_resized_to_the_input_size(tmp_path):
    write_idx_set(tmp_path / "MNIST" / "raw", train=40, test=10)
    data = load_dataset("mnist", tmp_path, 32, 0, 0.2, torch.device("cpu"))
    assert not data.hflip and data.test.images.shape == (10, 3, 32, 32) and data.classes == [str(i) for i in range(10)]
    summary = data.summary()
    assert summary.sizes == {"28×28": 50} and summary.modes == {"L": 50}


def test_the_identity_is_the_files_content(tmp_path):
    write_idx_set(tmp_path / "MNIST" / "raw", train=20, test=10)
    before = data_identity("mnist", tmp_path)
    write_idx_set(tmp_path / "MNIST" / "raw", train=20, test=10, seed=1)  # same names and sizes, other pixels
    after = data_identity("mnist", tmp_path)
    assert before["content"] != after["content"] and before["path"] == after["path"]


def test_a_malformed_file_is_named(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(UsageError, match="is not an IDX file"):
        read_idx(path)


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist package is not installed")
def test_the_debian_package_files_load_as_an_independent_reading_of_them_says():
    with gzip.open(DEBIAN_FASHION / "t10k-images-idx3-ubyte.gz", "rb") as f:
        raw = f.read()
    magic, count, rows, cols = struct.unpack(">IIII", raw[:16])
    assert (magic, count, rows, cols) == (0x803, 10_000, 28, 28)  # the published test split's size
    expected = np.frombuffer(raw[16:], np.uint8).reshape(count, rows, cols)
    with gzip.open(DEBIAN_FASHION / "t10k-labels-idx1-ubyte.gz", "rb") as f:
        expected_labels = np.frombuffer(f.read()[8:], np.uint8)
    data = load_dataset("fashion-mnist", None, 28, 0, 0.2, torch.device("cpu"))
    assert (data.test.images[:, 0].numpy() == expected).all()
    assert (data.test.labels.numpy() == expected_labels).all()
    assert len(data.train) + len(data.val) == 60_000 and np.bincount(expected_labels).tolist() == [1000] * 10


def test_train_limit_makes_only_the_images_used_and_the_same_ones_as_narrowing_after(tmp_path):
    """Narrowed while loading (only the used images are resized and held) the splits hold exactly the images that
    narrowing the whole loaded set afterwards (`limited`) keeps; `nbytes` is their size, counted by hand."""
    from bench.data.base import limited

    write_idx_set(tmp_path / "FashionMNIST" / "raw", train=600, test=200)
    narrowed = load_dataset("fashion-mnist", tmp_path, 16, 3, 0.2, torch.device("cpu"), train_limit=100, test_limit=50)
    whole = limited(load_dataset("fashion-mnist", tmp_path, 16, 3, 0.2, torch.device("cpu")), 100, 50, 3)
    for split in ("train", "val", "test"):
        assert torch.equal(getattr(narrowed, split).images, getattr(whole, split).images), split
        assert torch.equal(getattr(narrowed, split).labels, getattr(whole, split).labels), split
    assert (len(narrowed.train), len(narrowed.val), len(narrowed.test)) == (100, 25, 50)
    assert narrowed.nbytes() == (100 + 25 + 50) * (3 * 16 * 16 + 8)  # uint8 pixels, int64 labels
