"""Helpers shared by the tests: writing data sets in their real on-disk formats, and running `bench` for real."""
from __future__ import annotations

import contextlib
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "results"  # the committed example rows (make reports); their reports in reports/
STUDY_RESULTS = ROOT / "examples" / "fashion-mnist" / "results"  # the study's rows (make study)
COLORS = [(250, 10, 10), (10, 250, 10), (10, 10, 250)]


ONE_LATENCY_PROCESS = ("--set", "latency_processes=1")
NO_LATENCY = ("--set", "latency_processes=0")  # not timed by the run: `bench latency` could time it later

# One memory format given, for runs in two folders that a test compares bit for bit: each folder would probe its own,
# and when a model's two formats are within a few per cent two probes may choose differently; the formats compute in
# another order, so the numbers differ (tests/test_speed.py tests the choice itself).
ONE_FORMAT = ("--no-channels-last",)
# A test that is about the automatic choice asks for it by name (the recipe's default, `none`: chosen by measurement).
FORMAT_BY_MEASUREMENT = ("--set", "channels_last=none")


def quick(args: tuple[str, ...]) -> tuple[str, ...]:
    """A `bench run` of the tests leaves out what the test does not ask for, each a few seconds of a child process
    per run: latency (`NO_LATENCY`) unless the test sets `latency_processes` itself (tests/test_aa.py and the
    latency tests do), and the memory-format probe (`ONE_FORMAT`) unless the test names a format or asks for the
    probe (`FORMAT_BY_MEASUREMENT`: tests/test_speed.py)."""
    if not args or args[0] != "run" or "--help" in args:
        return args
    extra: tuple[str, ...] = ()
    if not any("latency_processes" in a for a in args):
        extra += NO_LATENCY
    if not any("channels-last" in a or "channels_last" in a for a in args):
        extra += ONE_FORMAT
    return (*args, *extra)


def bench(*args: str, env: dict[str, str] | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """`bench ARGS` in a real child process, from the project root (a run: see `quick`)."""
    return subprocess.run([sys.executable, "-m", "bench.cli", *quick(args)], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env={**os.environ, **(env or {})})


@contextlib.contextmanager
def running(*args: str, sigint_ignored: bool = False) -> Iterator[subprocess.Popen]:
    """`bench ARGS` started in a session of its own (so a test can signal its group, as a terminal would), with
    text pipes; killed when the block ends if it is still there (its workers die with it: die_with_parent). With
    `sigint_ignored`, it starts with SIGINT ignored, as a job a script starts in the background inherits it."""
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", *quick(args)], cwd=ROOT, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=ignore)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def children_of(pid: int, command: bytes | None = None) -> list[int]:
    """Process ids whose parent is `pid` (and whose command line holds `command`, when given), read from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    line = f.read()
            except (OSError, ValueError, IndexError):
                continue
            if parent == pid and (command is None or command in line):
                found.append(int(entry))
    return found


def worker_children(pid: int) -> list[int]:
    """The bench worker processes the runner `pid` started."""
    return children_of(pid, b"bench.worker")


def wait_for_shards(folder: Path, timeout_s: float = 180) -> None:
    """Until `folder` holds a parquet shard (e.g. a run's first epoch), or `timeout_s` passed."""
    deadline = time.time() + timeout_s
    while not any(folder.glob("*.parquet")) and time.time() < deadline:
        time.sleep(0.2)


def write_cifar10(root: Path, per_batch: int = 6, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """CIFAR-10's python layout: five pickled data batches, a test batch and batches.meta. Returns batch 1."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    first = None
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [int(x) for x in rng.integers(0, 10, per_batch)]
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data,
                         b"filenames": [f"{i}.png".encode() for i in range(per_batch)]}, f)
        first = first or (data, labels)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": names, b"num_cases_per_batch": per_batch, b"num_vis": 3072}, f)
    return first


def write_cifar100(root: Path, n: int = 12) -> None:
    """CIFAR-100's python layout: train, test and meta with fine and coarse labels."""
    rng = np.random.default_rng(1)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for name in ("train", "test"):
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         b"fine_labels": [i % 100 for i in range(n)], b"coarse_labels": [i % 20 for i in range(n)]}, f)
    with open(folder / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
                     b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)]}, f)


def write_image(path: Path, color: tuple[int, int, int], size: int = 12) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), color).save(path)


def write_image_folder(root: Path, per_class: int = 5, test: bool = True) -> list[str]:
    """root/train/<class>/*.png (and root/test/...), each class a solid colour. Returns the class names."""
    classes = ["admiral", "monarch", "swallowtail"]
    for name, color in zip(classes, COLORS):
        for i in range(per_class):
            write_image(root / "train" / name / f"{i}.png", color)
        if test:
            for i in range(2):
                write_image(root / "test" / name / f"t{i}.jpg", color)
    return classes


@contextlib.contextmanager
def headless_chromium():
    """Debian's chromium driven by its chromedriver (selenium), headless, logging the console and the network; the
    calling test is skipped, saying what to install, where either is missing."""
    import shutil

    import pytest
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [tool for tool in ("chromium", "chromedriver") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"no headless browser ({', '.join(missing)} missing): apt-get install -y chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()
