"""`imagefolder:PATH` and `csv:PATH`: a folder of class folders, or a labels CSV beside its images.

Files are listed (and their headers read) when the data set is loaded; their pixels are decoded and resized once
into the image cache (bench.data.cache), whose splits then arrive on the device as uint8 N×3×H×W batches, augmented
and normalised there like the in-memory sets.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

from ...core.errors import UsageError
from ...core.hashing import digest, file_digest
from ..kind import DataKind, existing_dir

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


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
                 device, decode: bool = True):
    """Split file lists (test carved from train when absent, validation from train) into splits of the cache.

    With `decode=False` nothing is decoded: the splits know their files and labels (enough for the checks of
    bench.data.check), but hold no pixels and the statistics are NaN."""
    import numpy as np

    from ..base import CARVED_TEST_FRACTION, TEST_SPLIT_SEED, DataSet, stratified_split
    from ..cache import CachedSource, cached_images
    from ..check import scan_images

    files, labels = train
    if test is None:
        kept, held = stratified_split(np.array(labels), CARVED_TEST_FRACTION, TEST_SPLIT_SEED)
        test = [files[i] for i in held], [labels[i] for i in held]
        files, labels = [files[i] for i in kept], [labels[i] for i in kept]
    everything = files + test[0]
    sizes, modes, per_file = scan_images(everything)
    images = cached_images(everything, per_file, size) if decode else None
    all_labels = np.array(labels + test[1], dtype=np.int64)
    kept, held = stratified_split(np.array(labels), val_fraction, seed)
    test_rows = np.arange(len(files), len(everything))

    def source(rows: np.ndarray) -> CachedSource:
        return CachedSource(images, rows, all_labels[rows], [everything[i] for i in rows], device)

    train_source = source(kept)
    mean, std = train_source.channel_stats() if decode else ((float("nan"),) * 3, (float("nan"),) * 3)
    return DataSet(name, classes, train_source, source(held), source(test_rows), mean, std, hflip=True, sizes=sizes,
                   modes=modes)


def class_folders(split_dir: Path) -> list[str]:
    """The class folder names of one split, sorted; a class folder without images is an error."""
    classes = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
    for name in classes:
        if not image_files(split_dir / name):
            raise UsageError(f"class folder '{split_dir / name}' has no images (extensions: "
                             f"{', '.join(IMAGE_EXTENSIONS)}); add images or remove the folder")
    return classes


def load_image_folder(root: Path, size: int, seed: int, val_fraction: float, device, decode: bool = True):
    """`root/train/<class>/*` and, when present, `root/test/<class>/*` with the same classes."""
    from ..check import check_same_classes

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
    return file_dataset(f"imagefolder:{root}", classes, train, test, size, seed, val_fraction, device, decode)


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


def existing_csv(path: Path) -> Path:
    if path.is_dir():
        raise UsageError(f"'{path}' is a folder, not a labels file; give csv:PATH to a CSV with image and label columns")
    if not path.is_file():
        raise UsageError(f"labels file '{path}' does not exist; give csv:PATH to a CSV with image and label columns")
    return path


def load_csv(path: Path, size: int, seed: int, val_fraction: float, device, decode: bool = True):
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
    return file_dataset(f"csv:{path}", classes, split["train"], test, size, seed, val_fraction, device, decode)


# ---------------------------------------------------------------- identity and the two kinds

def tree_fingerprint(root: Path) -> tuple[str, int]:
    """Hash of the sorted relative paths, sizes and contents (sha256) of the image files under `root`."""
    from ..content import content_digests

    found = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        found += [Path(folder) / name for name in sorted(files) if name.lower().endswith(IMAGE_EXTENSIONS)]
    listing = [(str(path.relative_to(root)), path.stat().st_size, sha)
               for path, sha in zip(found, content_digests(found))]
    return digest(listing), len(listing)


def loader_note() -> str:
    from ..cache import CACHE_VERSION

    return f"decoded once into the image cache {CACHE_VERSION}, normalised with the training split's statistics"


def folder_identity(arg: str, root: Path | None) -> dict[str, object]:
    path = Path(arg).expanduser().resolve()
    content, count = tree_fingerprint(path)
    return {"kind": "imagefolder", "path": str(path), "content": content, "image_files": count,
            "loader": loader_note()}


def csv_identity(arg: str, root: Path | None) -> dict[str, object]:
    path = Path(arg).expanduser().resolve()
    content, count = tree_fingerprint(path.parent)
    return {"kind": "csv", "path": str(path), "labels_sha256": file_digest(str(path)), "content": content,
            "image_files": count, "loader": loader_note()}


KINDS = [
    DataKind("imagefolder", "PATH/train/<class>/*.jpg|png|... and optionally PATH/test/<class>/*; test carved (20%, "
             "fixed seed) when absent",
             lambda arg, root, size, seed, val_fraction, device, decode=True, limits=None: load_image_folder(
                 Path(arg).expanduser(), size, seed, val_fraction, device, decode),
             folder_identity, takes_path=True, image_files=True,
             check=lambda arg: existing_dir(Path(arg).expanduser(),
                                            "give imagefolder:PATH with PATH/train/<class>/ image folders")),
    DataKind("csv", "a labels CSV (image,label[,split]) beside its images; test carved as above when absent",
             lambda arg, root, size, seed, val_fraction, device, decode=True, limits=None: load_csv(
                 Path(arg).expanduser(), size, seed, val_fraction, device, decode),
             csv_identity, takes_path=True, image_files=True, check=lambda arg: existing_csv(Path(arg).expanduser())),
]
