"""Image files decoded and resized once, into a uint8 cache on disk that later epochs and runs read at memory speed.

One cache file per (the contents of the files in order, input size, CACHE_VERSION): an
N×3×S×S uint8 array, memory-mapped, under `$BENCH_CACHE_DIR` (default `~/.cache/bench`). It is built with
torchvision's own decoder (libjpeg-turbo) for JPEGs stored as RGB or gray, and with PIL (bench.data.check.to_rgb,
which converts 16-bit, palette and CMYK images faithfully) for everything else, in threads, with a progress
bar; written under a temporary name and renamed, so a killed build leaves nothing half-made. Delete the folder
to clear it.
"""
from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..core.errors import UsageError
from ..core.hashing import digest
from ..store.paths import cache_dir

CACHE_VERSION = "v2"  # change it whenever decoding, resizing or the key change what a cache file holds
TORCHVISION_JPEG = {"RGB", "L"}  # JPEG modes torchvision decodes exactly as the data set stores them
JPEG_SUFFIXES = (".jpg", ".jpeg")


def resize_square(image: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 3×H×W → 3×size×size, bilinear with antialiasing (like PIL's resize), rounded back to uint8."""
    if image.shape[-2:] == (size, size):
        return image
    out = F.interpolate(image[None].float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return out[0].round_().clamp_(0, 255).to(torch.uint8)


def decode(path: Path, mode: str, size: int) -> torch.Tensor:
    """One image file as a uint8 3×size×size tensor."""
    if path.suffix.lower() in JPEG_SUFFIXES and mode in TORCHVISION_JPEG:
        from torchvision.io import ImageReadMode, decode_jpeg, read_file

        image = decode_jpeg(read_file(str(path)), mode=ImageReadMode.RGB)
    else:
        from PIL import Image

        from .check import to_rgb

        with Image.open(path) as img:
            image = torch.from_numpy(np.asarray(to_rgb(img), dtype=np.uint8).copy()).permute(2, 0, 1)
    return resize_square(image, size)


def listing_key(files: list[Path]) -> str:
    """What a cache file holds, by name: the contents (sha256) of the files, in order."""
    from .content import content_digests

    return digest(content_digests(files))


def cached_images(files: list[Path], modes: list[str], size: int, workers: int | None = None) -> torch.Tensor:
    """All `files` as one uint8 N×3×size×size tensor backed by the cache file (built first when missing).

    A file that cannot be decoded is named before any training: one line, with how many more there are."""
    folder = cache_dir()
    path = folder / f"{listing_key(files)}-{size}px-{CACHE_VERSION}.u8"
    shape = (len(files), 3, size, size)
    if not path.is_file() or path.stat().st_size != int(np.prod(shape)):
        build(files, modes, size, path, workers)
    else:
        print(f"image cache: {len(files)} images at {size} px read from {path}", file=sys.stderr)
    return torch.from_numpy(np.memmap(path, dtype=np.uint8, mode="c", shape=shape))


def build(files: list[Path], modes: list[str], size: int, path: Path, workers: int | None) -> None:
    """Decode every file into a new cache file, written under a temporary name and renamed when complete."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"image cache folder '{path.parent}' cannot be created ({exc.strerror}); set BENCH_CACHE_DIR "
                         "to a writable folder") from None
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    start = time.perf_counter()
    try:
        fill(tmp, files, modes, size, workers)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"image cache: {len(files)} images decoded at {size} px in {time.perf_counter() - start:.1f} s into {path}",
          file=sys.stderr)


def fill(tmp: Path, files: list[Path], modes: list[str], size: int, workers: int | None) -> None:
    """Decode the files into `tmp` in threads (the decoders release the GIL), with a progress bar on a terminal;
    files that cannot be decoded are named in one UsageError."""
    from tqdm import tqdm

    array = np.memmap(tmp, dtype=np.uint8, mode="w+", shape=(len(files), 3, size, size))
    failed: list[tuple[Path, str]] = []

    def one(i: int) -> None:
        try:
            array[i] = decode(files[i], modes[i], size).numpy()
        except (OSError, RuntimeError, ValueError) as exc:
            failed.append((files[i], (str(exc).strip().splitlines() or [type(exc).__name__])[0]))

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one image per thread; each resize on one core
    try:
        with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
            for _ in tqdm(pool.map(one, range(len(files))), total=len(files), desc=f"decoding images at {size} px",
                          unit="img", file=sys.stderr, disable=not sys.stderr.isatty()):
                pass
    finally:
        torch.set_num_threads(threads)
    if failed:
        first, why = sorted(failed)[0]
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise UsageError(f"cannot decode image '{first}': {why}{more}; remove or replace it")
    array.flush()


class CachedSource:
    """One split of a cached image set: rows of the memory-mapped array, gathered batch by batch, moved to the
    device there (augmentation and normalisation happen on the device, as for the in-memory sets)."""

    def __init__(self, images: torch.Tensor, rows: np.ndarray, labels: np.ndarray, files: list[Path],
                 device: torch.device) -> None:
        self.images, self.rows, self.device = images, torch.as_tensor(rows, dtype=torch.int64), device
        self.labels = torch.as_tensor(labels, dtype=torch.int64)
        self.files = files  # this split's image files, in row order

    def __len__(self) -> int:
        return len(self.rows)

    def targets(self) -> np.ndarray:
        return self.labels.numpy()

    def batches(self, batch_size: int, generator: torch.Generator | None = None, drop_last: bool = False
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        from .base import batch_indices

        for picked in batch_indices(len(self), batch_size, generator, drop_last, "cpu"):
            images = self.images[self.rows[picked]]
            yield (images.to(self.device, non_blocking=True), self.labels[picked].to(self.device, non_blocking=True))

    def subset(self, index: np.ndarray) -> "CachedSource":
        return CachedSource(self.images, self.rows.numpy()[index], self.labels.numpy()[index],
                            [self.files[i] for i in index], self.device)

    def nbytes(self) -> int:
        """The rows this split reads from the memory-mapped cache, and its labels."""
        return len(self.rows) * self.images[0].nbytes + self.labels.nbytes if len(self.rows) else 0

    def channel_stats(self, chunk: int = 512) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and std of this split on the [0, 1] scale, exact, from a histogram of the 256 byte
        values per channel (one pass over the uint8 pixels, never a float copy of them)."""
        counts = torch.zeros(3, 256, dtype=torch.float64)
        for start in range(0, len(self), chunk):
            x = self.images[self.rows[start:start + chunk]]
            for channel in range(3):
                counts[channel] += torch.bincount(x[:, channel].reshape(-1), minlength=256).to(torch.float64)
        values = torch.arange(256, dtype=torch.float64) / 255
        n = counts.sum(1).clamp_min(1)
        mean = (counts * values).sum(1) / n
        std = ((counts * values**2).sum(1) / n - mean**2).clamp_min(0).sqrt().clamp_min(1e-3)
        return tuple(mean.tolist()), tuple(std.tolist())
