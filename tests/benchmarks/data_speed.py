"""`make data-speed`: images/s of bench's image pipeline against torchvision's ImageFolder + PIL transforms.

A folder of JPEG photos-to-be (smooth gradients with noise, 256-400 px, made once and kept) is read at 224 px
with the same augmentation both ways (pad-28 random crop, horizontal flip, ImageNet normalisation), batch 64,
with as many workers as cores:
- torchvision: `ImageFolder` + PIL `Resize`/`RandomCrop`/`RandomHorizontalFlip`/`ToTensor`/`Normalize` in a
  `DataLoader` with persistent workers: every epoch decodes every file again;
- bench, epoch 1: the image cache built from nothing (decode + resize once, in threads), then one pass;
- bench, a cached epoch: batches gathered from the memory-mapped cache and augmented as whole batches.
Each is one full pass over the training split without a model (the input pipeline alone). Printed, not asserted.
"""
from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch

SIZE = 224
BATCH = 64


def make_folder(root: Path, images: int, classes: int = 10, seed: int = 0) -> Path:
    """`root/train/<class>/*.jpg`, `images` in all; reused when already there."""
    marker = root / f".complete-{images}"
    if marker.exists():
        return root
    from PIL import Image

    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(seed)
    for i in range(images):
        w, h = (int(v) for v in rng.integers(256, 401, 2))
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([(x * (1 + c) + y * (3 - c)) * 255 // (w + h) for c in range(3)], -1)
        pixels = np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
        path = root / "train" / f"class{i % classes}" / f"{i:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path, quality=90)
    marker.touch()
    return root


def torchvision_epoch(root: Path, workers: int) -> float:
    """Images/s of one epoch of torchvision's ImageFolder + PIL transforms in a DataLoader."""
    from torchvision import datasets, transforms as T

    pipeline = T.Compose([T.Resize((SIZE, SIZE)), T.RandomCrop(SIZE, padding=SIZE // 8), T.RandomHorizontalFlip(),
                          T.ToTensor(), T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    folder = datasets.ImageFolder(str(root / "train"), transform=pipeline)
    loader = torch.utils.data.DataLoader(folder, batch_size=BATCH, shuffle=True, num_workers=workers,
                                         persistent_workers=workers > 0, drop_last=True)
    start, seen = time.perf_counter(), 0
    for images, _ in loader:
        seen += len(images)
    return seen / (time.perf_counter() - start)


def bench_pass(data, generator: torch.Generator) -> int:
    from bench.data.augment import Preprocess

    prepare = Preprocess(data, "crop-flip", torch.device("cpu"), generator)
    seen = 0
    for images, _ in data.train.batches(BATCH, generator, drop_last=True):
        seen += len(prepare.train(images))
    return seen


def bench_epochs(root: Path, cache: Path) -> tuple[float, float, int]:
    """Images/s of bench's epoch 1 (cache built from nothing, then a pass) and of a cached epoch; images."""
    from bench.data.registry import load_dataset

    shutil.rmtree(cache, ignore_errors=True)
    os.environ["BENCH_CACHE_DIR"] = str(cache)
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    data = load_dataset(f"imagefolder:{root}", None, SIZE, 0, 0.0, torch.device("cpu"))
    seen = bench_pass(data, generator)
    first = seen / (time.perf_counter() - start)
    start = time.perf_counter()
    seen = bench_pass(data, generator)
    return first, seen / (time.perf_counter() - start), seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000, help="JPEGs in the folder (default 5000)")
    parser.add_argument("--folder", default="/tmp/bench-data-speed", help="where the JPEG folder is made and kept")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="DataLoader workers (default: cores)")
    args = parser.parse_args()
    root = make_folder(Path(args.folder) / "images", args.images)
    # bench carves a test split (20%) from a folder without test/: the torchvision loader reads every file, so
    # its images/s are per file read, the same unit.
    first, cached, seen = bench_epochs(root, Path(args.folder) / "cache")
    reference = torchvision_epoch(root, args.workers)
    rows = [("torchvision ImageFolder + PIL, DataLoader", reference), ("bench, epoch 1 (cache built)", first),
            ("bench, cached epoch", cached)]
    print(f"\n{args.images} JPEGs at {SIZE} px, batch {BATCH}, {args.workers} workers / threads, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads ({seen} training images per bench epoch)")
    print(f"{'pipeline':<44} {'images/s':>9} {'vs torchvision':>15}")
    for name, rate in rows:
        print(f"{name:<44} {rate:>9,.0f} {rate / reference:>14.1f}×")


if __name__ == "__main__":
    main()
