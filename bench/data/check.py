"""What a data set holds, said once per run, and the checks that refuse one that cannot give a meaningful number.

Also the decoding of image modes that RGB cannot hold as they are (16-bit, palette with transparency, CMYK).
"""
from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import UsageError

SPLITS = ("train", "val", "test")
# Modes decoded to 8-bit RGB by more than PIL's plain convert("RGB"): 16-bit is scaled, not clipped.
SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
FAITHFUL_MODES = {"RGB", "L", "1"}


@dataclass
class Summary:
    """Classes, images per class per split, and the sizes and modes of the images as stored."""

    name: str
    classes: list[str]
    per_class: dict[str, list[int]]  # split -> images of each class
    sizes: Counter = field(default_factory=Counter)  # "W×H" -> images
    modes: Counter = field(default_factory=Counter)  # PIL mode -> images
    origin: str = ""  # where the images were read from

    def total(self, split: str) -> int:
        return sum(self.per_class[split])

    @property
    def converted(self) -> int:
        """Images stored in a mode that needed more than a plain conversion to 8-bit RGB."""
        return sum(n for mode, n in self.modes.items() if mode not in FAITHFUL_MODES)

    def lines(self) -> list[str]:
        """The summary as printed at the start of a run."""
        counts = ", ".join(f"{s} {self.total(s)}" for s in SPLITS)
        sizes = ", ".join(f"{k} ({n})" for k, n in self.sizes.most_common(4)) + (" …" if len(self.sizes) > 4 else "")
        modes = ", ".join(f"{k} ({n})" for k, n in self.modes.most_common())
        out = [f"data {self.name}: {len(self.classes)} classes; images {counts}; sizes {sizes}; modes {modes}"]
        if self.origin:
            out.append(f"  read from {self.origin}")
        if self.converted:
            out.append(f"  {self.converted} images converted to 8-bit RGB (16-bit scaled by 255/65535, "
                       "palette transparency and CMYK through RGBA/RGB)")
        per = "; ".join(f"{c} {'/'.join(str(self.per_class[s][i]) for s in SPLITS)}"
                        for i, c in enumerate(self.classes))
        out.append(f"  per class (train/val/test): {per}")
        return out


def counts(labels: np.ndarray, num_classes: int) -> list[int]:
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes).tolist()


def check(summary: Summary, batch_size: int) -> None:
    """Refuse a data set whose results would mean nothing, naming the problem and the fix."""
    if len(summary.classes) < 2:
        raise UsageError(f"data set {summary.name} has {len(summary.classes)} class "
                         f"({', '.join(summary.classes) or 'none'}); a classifier needs at least two: add class folders")
    for split in SPLITS:
        if summary.total(split) == 0:
            fix = "add images" if split != "val" else "add images or raise val_fraction"
            raise UsageError(f"data set {summary.name}: the {split} split is empty; {fix}")
    empty = [c for c, n in zip(summary.classes, summary.per_class["train"]) if n == 0]
    if empty:
        raise UsageError(f"data set {summary.name}: class {', '.join(map(repr, empty))} has no training images; "
                         "add images or remove the class")
    if summary.total("train") < batch_size:
        raise UsageError(f"data set {summary.name}: the training split has {summary.total('train')} images, fewer "
                         f"than one batch of {batch_size}; lower --batch-size")


def normalized_name(name: str) -> str:
    """A class name with case and punctuation removed: 'T-Shirt' and 'tshirt' meet here."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def check_same_classes(train: list[str], test: list[str], where: str) -> None:
    """The test split must hold exactly the training split's classes; name what differs and what it may mean."""
    only_test, only_train = sorted(set(test) - set(train)), sorted(set(train) - set(test))
    if not only_test and not only_train:
        return
    parts = []
    for name in only_test:
        twin = [t for t in only_train if normalized_name(t) == normalized_name(name)]
        close = twin or difflib.get_close_matches(name, only_train, n=1)
        parts.append(f"'{name}' only in test" + (f" (did you mean '{close[0]}'?)" if close else ""))
    parts += [f"'{name}' only in train" for name in only_train
              if not any(normalized_name(name) == normalized_name(t) for t in only_test)]
    raise UsageError(f"{where}: the test split's classes differ from the training split's: {'; '.join(parts)}; "
                     "give both splits the same class names")


def scan_images(files: list[Path]) -> tuple[Counter, Counter, list[str]]:
    """Sizes and modes of image files from their headers (no pixels decoded), counted and per file (in order); an
    unreadable file is named."""
    from PIL import Image, UnidentifiedImageError

    sizes, per_file = Counter(), []
    for path in files:
        try:
            with Image.open(path) as img:
                sizes[f"{img.width}×{img.height}"] += 1
                per_file.append(img.mode + ("+transparency" if img.mode == "P" and "transparency" in img.info else ""))
        except (OSError, UnidentifiedImageError, ValueError):
            raise UsageError(f"cannot read image '{path}': not an image file PIL can open; remove or replace it") \
                from None
    return sizes, Counter(per_file), per_file


def to_rgb(img):
    """An 8-bit RGB PIL image from any mode: 16-bit gray scaled (value × 255 / 65535, rounded) rather than
    clipped, palettes with transparency and images with alpha through RGBA (alpha dropped), CMYK by PIL."""
    from PIL import Image

    if img.mode in SIXTEEN_BIT:
        values = np.asarray(img, dtype=np.float64)
        gray = np.clip(np.round(values * 255 / 65535), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    if img.mode == "F":
        return Image.fromarray(np.clip(np.round(np.asarray(img)), 0, 255).astype(np.uint8), mode="L").convert("RGB")
    if img.mode in ("P", "PA", "LA", "RGBA") or "transparency" in img.info:
        return img.convert("RGBA").convert("RGB")
    return img.convert("RGB")
