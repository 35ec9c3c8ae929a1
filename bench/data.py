"""Data sets behind one interface: uint8 images on the training device, batched augmentation there.

Small sets (digits, CIFAR, fake) live whole on the device and batches are index slices of them (as in
airbench); image folders and CSV sets (bench/files.py) are decoded and resized by DataLoader workers. Either way a batch arrives as uint8
N×3×H×W, and cropping, flipping and normalisation run on the whole batch at once, never per image in Python.
"""
from __future__ import annotations

import difflib
import os
import pickle
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from .datacheck import Summary, counts
from .errors import UsageError
from .identity import digest, file_digest

Batch = tuple[torch.Tensor, torch.Tensor]
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
KINDS = ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "fake", "imagefolder:PATH", "csv:PATH")
TEST_SPLIT_SEED = 0  # where a data set has no test split, it is carved once, the same for every run
CARVED_TEST_FRACTION = 0.2  # the share of such a data set that becomes its test split
IDX_KINDS = ("mnist", "fashion-mnist")
FILE_KINDS = ("imagefolder", "csv")  # bench.files: image files, decoded once into the image cache  # bench.idx: the MNIST family in its original IDX files
# digits is small: half of it (899 images) is the test split, so a 1-point accuracy gap is ~9 images, not ~4.
DIGITS_TEST_FRACTION = 0.5


class Source(Protocol):
    """One split: its size, and its batches of uint8 images and int64 labels on the device."""

    def __len__(self) -> int: ...

    def targets(self) -> np.ndarray: ...

    def batches(self, batch_size: int, generator: torch.Generator | None = None, drop_last: bool = False
                ) -> Iterator[Batch]: ...


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

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def summary(self) -> Summary:
        """Classes, images per class per split, image sizes and modes."""
        per_class = {split: counts(getattr(self, split).targets(), self.num_classes) for split in ("train", "val", "test")}
        return Summary(self.name, self.classes, per_class, self.sizes, self.modes)


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
        n, device = len(self), self.labels.device
        order = torch.arange(n, device=device) if generator is None else torch.randperm(
            n, generator=generator, device=generator.device).to(device)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            index = order[start:start + batch_size]
            yield self.images[index], self.labels[index]


# ---------------------------------------------------------------- augmentation, batched on the device

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
        if augment not in ("none", "crop", "crop-flip"):
            raise UsageError(f"unknown augmentation preset '{augment}'; use none, crop or crop-flip")
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


# ---------------------------------------------------------------- splitting

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


def tensor_dataset(name: str, classes: list[str], train_x: torch.Tensor, train_y: torch.Tensor,
                   test_x: torch.Tensor, test_y: torch.Tensor, size: int, seed: int, val_fraction: float,
                   device: torch.device, hflip: bool, synthetic: bool = False, mode: str = "RGB") -> DataSet:
    """Resize, carve the validation split from train, and move every split to the device. Images are uint8
    N×C×H×W with C = 3, or 1 for gray (made 3-channel after resizing, so the resize works on one channel)."""
    stored = Counter({f"{train_x.shape[-1]}×{train_x.shape[-2]}": len(train_x) + len(test_x)})
    train_x, test_x = (resize_uint8(x, size).expand(-1, 3, -1, -1) for x in (train_x, test_x))  # gray: 1 → 3
    kept, held = stratified_split(train_y.numpy(), val_fraction, seed)
    kept_t, held_t = torch.from_numpy(kept), torch.from_numpy(held)
    mean, std = channel_stats(train_x[kept_t])

    def source(x: torch.Tensor, y: torch.Tensor) -> TensorSource:
        return TensorSource(x.contiguous().to(device), y.to(device))

    return DataSet(name, classes, source(train_x[kept_t], train_y[kept_t]), source(train_x[held_t], train_y[held_t]),
                   source(test_x, test_y), mean, std, hflip, synthetic, stored, Counter({mode: sum(stored.values())}))


# ---------------------------------------------------------------- the data sets

def digits_file() -> Path:
    """scikit-learn's bundled digits.csv.gz: 64 pixel columns (0..16) and the label, one image a row."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")  # locate, not import: importing sklearn costs seconds per run
    if spec is None or spec.origin is None:
        raise UsageError("the digits data set comes with scikit-learn: pip install scikit-learn")
    return Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"


def load_digits(size: int, seed: int, val_fraction: float, device: torch.device) -> DataSet:
    """scikit-learn's bundled 1,797 8×8 digits as 3-channel uint8 images; a fixed stratified half is the test split."""
    table = np.loadtxt(digits_file(), delimiter=",")
    images = torch.from_numpy(np.round(table[:, :64] * (255 / 16)).astype(np.uint8)).view(-1, 1, 8, 8).repeat(1, 3, 1, 1)
    labels = torch.from_numpy(table[:, 64].astype(np.int64))
    train_idx, test_idx = (torch.from_numpy(i) for i in stratified_split(labels.numpy(), DIGITS_TEST_FRACTION,
                                                                          TEST_SPLIT_SEED))
    return tensor_dataset("digits", [str(i) for i in range(10)], images[train_idx], labels[train_idx],
                          images[test_idx], labels[test_idx], size, seed, val_fraction, device, hflip=False, mode="L")


def load_fake(size: int, seed: int, val_fraction: float, device: torch.device) -> DataSet:
    """Random images and labels (10 classes) for smoke runs; every result says dataset 'fake'."""
    g = torch.Generator().manual_seed(TEST_SPLIT_SEED)
    x = torch.randint(0, 256, (800, 3, size, size), generator=g, dtype=torch.uint8)
    y = torch.arange(800) % 10
    return tensor_dataset("fake", [f"class{i}" for i in range(10)], x[:640], y[:640], x[640:], y[640:],
                          size, seed, val_fraction, device, hflip=True, synthetic=True)


CIFAR = {
    # name: folder, train files, test file, meta file, label key, names key, archive url, archive md5
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch", "batches.meta",
                b"labels", b"label_names", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                "c58f30108f718f92721af3b95e74349a"),
    "cifar100": ("cifar-100-python", ["train"], "test", "meta", b"fine_labels", b"fine_label_names",
                 "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85"),
}


def read_cifar_batch(path: Path, label_key: bytes) -> tuple[torch.Tensor, torch.Tensor]:
    """One pickled CIFAR batch: N×3072 uint8 rows (R, G, B planes of 32×32) and their labels."""
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


def load_cifar(name: str, root: Path, size: int, seed: int, val_fraction: float, device: torch.device) -> DataSet:
    """CIFAR-10/100 from their original pickled batches."""
    folder, train_files, test_file, meta_file, label_key, names_key, *_ = CIFAR[name]
    path = ensure_cifar(name, root)
    parts = [read_cifar_batch(path / f, label_key) for f in train_files]
    test_x, test_y = read_cifar_batch(path / test_file, label_key)
    with open(path / meta_file, "rb") as f:
        classes = [n.decode() for n in pickle.load(f, encoding="bytes")[names_key]]
    return tensor_dataset(name, classes, torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]),
                          test_x, test_y, size, seed, val_fraction, device, hflip=True)


def load_idx_set(name: str, root: Path | None, size: int, seed: int, val_fraction: float,
                 device: torch.device) -> DataSet:
    """MNIST or Fashion-MNIST from their IDX files: 28 px gray images, resized and made 3-channel like digits."""
    from .idx import IDX_SETS, load_split, locate

    files = locate(name, root)
    (train_x, train_y), (test_x, test_y) = load_split(files, "train"), load_split(files, "test")

    spec = IDX_SETS[name]
    return tensor_dataset(name, list(spec.classes), torch.from_numpy(train_x.copy())[:, None], torch.from_numpy(train_y),
                          torch.from_numpy(test_x.copy())[:, None], torch.from_numpy(test_y), size, seed, val_fraction,
                          device, hflip=spec.hflip, mode="L")


def existing_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise UsageError(f"data directory '{path}' does not exist; {what}")
    return path


def existing_csv(path: Path) -> Path:
    if path.is_dir():
        raise UsageError(f"'{path}' is a folder, not a labels file; give csv:PATH to a CSV with image and label columns")
    if not path.is_file():
        raise UsageError(f"labels file '{path}' does not exist; give csv:PATH to a CSV with image and label columns")
    return path


def check_spec(spec: str) -> None:
    """Refuse an unknown data set or a missing path, cheaply, before anything is loaded."""
    kind, _, arg = spec.partition(":")
    if kind == "imagefolder" and arg:
        existing_dir(Path(arg).expanduser(), "give imagefolder:PATH with PATH/train/<class>/ image folders")
    elif kind == "csv" and arg:
        existing_csv(Path(arg).expanduser())
    elif spec not in ("digits", "fake", *CIFAR, *IDX_KINDS):
        close = difflib.get_close_matches(spec, [k.split(":")[0] for k in KINDS], n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UsageError(f"unknown data set '{spec}'{hint}; choose one of: {', '.join(KINDS)}")


# Built-in sets are identified by a version string: change it whenever their loader changes what it yields.
BUILTIN_VERSIONS = {
    "digits": "scikit-learn digits.csv.gz, 1,797 8x8 images scaled x255/16; test = stratified half, seed 0; v1",
    "fake": "800 uniform random uint8 images, generator seed 0, labels i mod 10, last 160 = test; v1",
}


def tree_fingerprint(root: Path) -> tuple[str, int]:
    """Hash of the sorted relative paths, sizes and modification times of the image files under `root`."""
    listing = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                path = Path(folder) / name
                stat = path.stat()
                listing.append((str(path.relative_to(root)), stat.st_size, stat.st_mtime_ns))
    return digest(listing), len(listing)


def data_identity(spec: str, data_root: str | Path | None) -> dict[str, object]:
    """What a data set's results depend on: its kind, resolved path and a fingerprint of its content.

    Cheap (file listings, no image decoded). CIFAR is fetched here when missing, so that the fingerprint is
    of the files the runs will read."""
    check_spec(spec)
    kind, _, arg = spec.partition(":")
    if spec in BUILTIN_VERSIONS:
        return {"kind": spec, "version": BUILTIN_VERSIONS[spec]}
    if spec in IDX_KINDS:
        from .idx import locate

        files = locate(spec, Path(data_root) if data_root else None)
        return {"kind": spec, "path": str(next(iter(files.values())).parent.resolve()),
                "content": digest({stem: file_digest(str(path)) for stem, path in sorted(files.items())})}
    if spec in CIFAR:
        folder, train_files, test_file, meta_file, *_ = CIFAR[spec]
        path = ensure_cifar(spec, Path(data_root) if data_root else Path("data"))
        files = [path / f for f in [*train_files, test_file, meta_file]]
        listing = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) if f.is_file() else (f.name, "missing")
                   for f in files]
        return {"kind": spec, "path": str(path.resolve()), "content": digest(listing)}
    from .cache import CACHE_VERSION

    path = Path(arg).expanduser().resolve()
    loader = f"decoded once into the image cache {CACHE_VERSION}, normalised with the training split's statistics"
    if kind == "imagefolder":
        content, count = tree_fingerprint(path)
        return {"kind": kind, "path": str(path), "content": content, "image_files": count, "loader": loader}
    content, count = tree_fingerprint(path.parent)
    return {"kind": kind, "path": str(path), "labels_sha256": file_digest(str(path)), "content": content,
            "image_files": count, "loader": loader}


def load_dataset(spec: str, data_root: Path | None, size: int, seed: int, val_fraction: float,
                 device: torch.device, decode: bool = True) -> DataSet:
    """The data set named by `spec` (see KINDS), with its validation split carved by `seed`. `decode=False` lets
    image-file sets skip decoding pixels into the image cache (their labels and files are all a check needs)."""
    check_spec(spec)
    kind, _, arg = spec.partition(":")
    if spec == "digits":
        return load_digits(size, seed, val_fraction, device)
    if spec == "fake":
        return load_fake(size, seed, val_fraction, device)
    if spec in IDX_KINDS:
        return load_idx_set(spec, Path(data_root) if data_root else None, size, seed, val_fraction, device)
    if spec in CIFAR:
        return load_cifar(spec, Path(data_root) if data_root else Path("data"), size, seed, val_fraction, device)
    from .files import load_csv, load_image_folder

    if kind == "imagefolder":
        return load_image_folder(Path(arg).expanduser(), size, seed, val_fraction, device, decode)
    return load_csv(Path(arg).expanduser(), size, seed, val_fraction, device, decode)
