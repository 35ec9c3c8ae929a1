"""Data sets behind one interface: uint8 images on the training device, batched augmentation there.

Small sets (digits, CIFAR, fake) live whole on the device and batches are index slices of them (as in
airbench); image folders are decoded and resized by DataLoader workers. Either way a batch arrives as uint8
N×3×H×W, and cropping, flipping and normalisation run on the whole batch at once, never per image in Python.
"""
from __future__ import annotations

import csv
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

from .datacheck import Summary, check_same_classes, counts, scan_images, to_rgb
from .errors import UsageError
from .identity import digest, file_digest

Batch = tuple[torch.Tensor, torch.Tensor]
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
KINDS = ("digits", "cifar10", "cifar100", "fake", "imagefolder:PATH", "csv:PATH")
TEST_SPLIT_SEED = 0  # where a data set has no test split, it is carved once, the same for every run
CARVED_TEST_FRACTION = 0.2  # the share of such a data set that becomes its test split
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


class ImageFiles(torch.utils.data.Dataset):
    """Image files decoded with PIL and resized to a square; an unreadable file comes back with label -1."""

    def __init__(self, files: list[Path], labels: list[int], size: int) -> None:
        self.files, self.labels, self.size = files, labels, size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        from PIL import Image

        try:
            with Image.open(self.files[i]) as img:
                img = to_rgb(img).resize((self.size, self.size), Image.BILINEAR)
                array = np.asarray(img, dtype=np.uint8).copy()
        except (OSError, ValueError):
            # Raised in a worker this would come back wrapped in a traceback; the main process names the file.
            return torch.zeros(3, self.size, self.size, dtype=torch.uint8), -1, i
        return torch.from_numpy(array).permute(2, 0, 1), self.labels[i], i


class FileSource:
    """A split of image files, decoded by DataLoader workers and moved to the device batch by batch."""

    def __init__(self, files: list[Path], labels: list[int], size: int, device: torch.device) -> None:
        self.dataset, self.device = ImageFiles(files, labels, size), device
        self.workers = min(4, os.cpu_count() or 1)
        self._loaders: dict[tuple[int, bool, bool], torch.utils.data.DataLoader] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def targets(self) -> np.ndarray:
        return np.asarray(self.dataset.labels, dtype=np.int64)

    def loader(self, batch_size: int, generator: torch.Generator | None, drop_last: bool
               ) -> torch.utils.data.DataLoader:
        """One DataLoader per way of batching, made once: its workers persist from epoch to epoch."""
        key = (batch_size, generator is not None, drop_last)
        if key not in self._loaders:
            cpu_generator = None
            if generator is not None:  # DataLoader shuffles on the CPU: a CPU generator derived from the run's
                cpu_generator = torch.Generator().manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
            self._loaders[key] = torch.utils.data.DataLoader(
                self.dataset, batch_size=batch_size, shuffle=generator is not None, generator=cpu_generator,
                num_workers=self.workers, drop_last=drop_last, pin_memory=self.device.type == "cuda",
                persistent_workers=self.workers > 0)
        return self._loaders[key]

    def batches(self, batch_size: int, generator: torch.Generator | None = None, drop_last: bool = False
                ) -> Iterator[Batch]:
        for images, labels, index in self.loader(batch_size, generator, drop_last):
            if (labels < 0).any():
                bad = self.dataset.files[int(index[labels < 0][0])]
                raise UsageError(f"cannot read image '{bad}': not an image file PIL can open; remove or replace it")
            yield images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)


# ---------------------------------------------------------------- augmentation, batched on the device

def random_crop(images: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad by `pad` and cut a random window of the original size from each image, in one gather."""
    b, c, h, w = images.shape
    device = images.device
    padded = F.pad(images, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b, 1), generator=generator, device=generator.device).to(device)
    dx = torch.randint(0, 2 * pad + 1, (b, 1), generator=generator, device=generator.device).to(device)
    rows = (dy + torch.arange(h, device=device))[:, None, :, None]
    cols = (dx + torch.arange(w, device=device))[:, None, None, :]
    batch = torch.arange(b, device=device)[:, None, None, None]
    channel = torch.arange(c, device=device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = torch.rand(len(images), generator=generator, device=generator.device).to(images.device) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(3), images)


def normalize(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 → float, scaled to [0, 1], then standardised per channel."""
    return (images.float().div_(255) - mean) / std


class Preprocess:
    """Turns uint8 batches into model inputs: augmentation (training only) and normalisation."""

    def __init__(self, data: DataSet, augment: str, device: torch.device, generator: torch.Generator) -> None:
        if augment not in ("none", "crop", "crop-flip"):
            raise UsageError(f"unknown augmentation preset '{augment}'; use none, crop or crop-flip")
        self.crop = augment != "none"
        self.flip = augment == "crop-flip" and data.hflip
        self.mean = torch.tensor(data.mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(data.std, device=device).view(1, 3, 1, 1)
        self.generator = generator

    def train(self, images: torch.Tensor) -> torch.Tensor:
        if self.crop:
            images = random_crop(images, pad=max(1, images.shape[-1] // 8), generator=self.generator)
        if self.flip:
            images = random_flip(images, self.generator)
        return normalize(images, self.mean, self.std)

    def eval(self, images: torch.Tensor) -> torch.Tensor:
        return normalize(images, self.mean, self.std)


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
    """Resize, carve the validation split from train, and move every split to the device."""
    stored = Counter({f"{train_x.shape[-1]}×{train_x.shape[-2]}": len(train_x) + len(test_x)})
    train_x, test_x = resize_uint8(train_x, size), resize_uint8(test_x, size)
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


def image_files(folder: Path) -> list[Path]:
    """Image files directly in `folder`, sorted."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)


def scan_class_folders(folder: Path, classes: list[str]) -> tuple[list[Path], list[int]]:
    """Files and class indices of `folder/<class>/*` for the given class names."""
    files, labels = [], []
    for index, name in enumerate(classes):
        if (folder / name).is_dir():
            found = image_files(folder / name)
            files += found
            labels += [index] * len(found)
    return files, labels


def file_dataset(name: str, classes: list[str], train: tuple[list[Path], list[int]],
                 test: tuple[list[Path], list[int]] | None, size: int, seed: int, val_fraction: float,
                 device: torch.device) -> DataSet:
    """Split file lists (test carved from train when absent, validation from train) into file sources."""
    files, labels = train
    if test is None:
        kept, held = stratified_split(np.array(labels), CARVED_TEST_FRACTION, TEST_SPLIT_SEED)
        test = [files[i] for i in held], [labels[i] for i in held]
        files, labels = [files[i] for i in kept], [labels[i] for i in kept]
    kept, held = stratified_split(np.array(labels), val_fraction, seed)

    def source(index: np.ndarray | None, pair: tuple[list[Path], list[int]]) -> FileSource:
        f, y = pair if index is None else ([pair[0][i] for i in index], [pair[1][i] for i in index])
        return FileSource(f, y, size, device)

    sizes, modes = scan_images(files + test[0])
    # ImageNet statistics: the convention for photographs, and what pretrained weights expect.
    return DataSet(name, classes, source(kept, (files, labels)), source(held, (files, labels)), source(None, test),
                   (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), hflip=True, sizes=sizes, modes=modes)


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
    elif spec not in ("digits", "fake", *CIFAR):
        close = difflib.get_close_matches(spec, [k.split(":")[0] for k in KINDS], n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UsageError(f"unknown data set '{spec}'{hint}; choose one of: {', '.join(KINDS)}")


def class_folders(split_dir: Path) -> list[str]:
    """The class folder names of one split, sorted; a class folder without images is an error."""
    classes = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
    for name in classes:
        if not image_files(split_dir / name):
            raise UsageError(f"class folder '{split_dir / name}' has no images (extensions: "
                             f"{', '.join(IMAGE_EXTENSIONS)}); add images or remove the folder")
    return classes


def load_image_folder(root: Path, size: int, seed: int, val_fraction: float, device: torch.device) -> DataSet:
    """`root/train/<class>/*` and, when present, `root/test/<class>/*` with the same classes."""
    train_dir = existing_dir(root / "train", f"expected {root}/train/<class>/ image folders")
    classes = class_folders(train_dir)
    if len(classes) < 2:
        raise UsageError(f"{train_dir} has {len(classes)} class folder{'' if len(classes) == 1 else 's'} "
                         f"({', '.join(classes) or 'none'}); a classifier needs at least two: add class folders")
    train = scan_class_folders(train_dir, classes)
    test = None
    if (root / "test").is_dir():
        check_same_classes(classes, class_folders(root / "test"), f"{root}")
        test = scan_class_folders(root / "test", classes)
    return file_dataset(f"imagefolder:{root}", classes, train, test, size, seed, val_fraction, device)


CSV_IMAGE_COLUMNS = ("image", "file", "filename", "path", "id_code", "id")
CSV_LABEL_COLUMNS = ("label", "level", "diagnosis", "class", "target")


def find_image(folder: Path, name: str) -> Path | None:
    """The file `name` refers to: as given, with an image extension added, or inside images/ or train/."""
    for base in (folder, folder / "images", folder / "train"):
        for candidate in [base / name] + [base / f"{name}{ext}" for ext in IMAGE_EXTENSIONS]:
            if candidate.is_file():
                return candidate
    return None


def pick_column(path: Path, header: list[str], preferred: tuple[str, ...], what: str) -> str:
    """The column named like one of `preferred` (any case); none is an error naming the names it looks for."""
    lowered = {h.strip().lower(): h for h in header}
    found = next((lowered[c] for c in preferred if c in lowered), None)
    if found is None:
        raise UsageError(f"labels file '{path}' has no {what} column (its columns: {', '.join(header)}); "
                         f"name one of them {', '.join(preferred)}")
    return found


def load_csv(path: Path, size: int, seed: int, val_fraction: float, device: torch.device) -> DataSet:
    """A labels CSV (image, label[, split]) beside an image folder, like Kaggle's retinopathy set."""
    with open(existing_csv(path), newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise UsageError(f"labels file '{path}' has no rows")
    header = list(rows[0])
    image_col = pick_column(path, header, CSV_IMAGE_COLUMNS, "image")
    label_col = pick_column(path, header, CSV_LABEL_COLUMNS, "label")
    raw = [(r[label_col] or "").strip() for r in rows]
    in_test = [(r.get("split") or "train").strip().lower() == "test" for r in rows]
    numeric = all(v.lstrip("-").isdigit() for v in raw)
    train_labels = {v for v, t in zip(raw, in_test) if not t}
    only_test = sorted({v for v, t in zip(raw, in_test) if t} - train_labels)
    if only_test:
        raise UsageError(f"labels file '{path}': label {', '.join(map(repr, only_test))} occurs only in the test "
                         "split, so no model can learn it; add training rows for it or drop its test rows")
    classes = sorted(train_labels, key=int if numeric else str)
    index = {c: i for i, c in enumerate(classes)}
    split = {"train": ([], []), "test": ([], [])}
    for row, label, test_row in zip(rows, raw, in_test):
        file = find_image(path.parent, (row[image_col] or "").strip())
        if file is None:
            raise UsageError(f"image '{row[image_col]}' listed in {path} was not found next to it "
                             f"(looked in {path.parent}, images/ and train/)")
        part = "test" if test_row else "train"
        split[part][0].append(file)
        split[part][1].append(index[label])
    test = split["test"] if split["test"][0] else None
    return file_dataset(f"csv:{path}", classes, split["train"], test, size, seed, val_fraction, device)


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
    if spec in CIFAR:
        folder, train_files, test_file, meta_file, *_ = CIFAR[spec]
        path = ensure_cifar(spec, Path(data_root) if data_root else Path("data"))
        files = [path / f for f in [*train_files, test_file, meta_file]]
        listing = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) if f.is_file() else (f.name, "missing")
                   for f in files]
        return {"kind": spec, "path": str(path.resolve()), "content": digest(listing)}
    path = Path(arg).expanduser().resolve()
    if kind == "imagefolder":
        content, count = tree_fingerprint(path)
        return {"kind": kind, "path": str(path), "content": content, "image_files": count}
    content, count = tree_fingerprint(path.parent)
    return {"kind": kind, "path": str(path), "labels_sha256": file_digest(str(path)), "content": content,
            "image_files": count}


def load_dataset(spec: str, data_root: Path | None, size: int, seed: int, val_fraction: float,
                 device: torch.device) -> DataSet:
    """The data set named by `spec` (see KINDS), with its validation split carved by `seed`."""
    check_spec(spec)
    kind, _, arg = spec.partition(":")
    if spec == "digits":
        return load_digits(size, seed, val_fraction, device)
    if spec == "fake":
        return load_fake(size, seed, val_fraction, device)
    if spec in CIFAR:
        return load_cifar(spec, Path(data_root) if data_root else Path("data"), size, seed, val_fraction, device)
    if kind == "imagefolder":
        return load_image_folder(Path(arg).expanduser(), size, seed, val_fraction, device)
    return load_csv(Path(arg).expanduser(), size, seed, val_fraction, device)
