"""CIFAR files are read as data. The official batches were pickled by Python 2's cPickle (protocol 2: strings as
BINSTRING, the array rebuilt by numpy.core.multiarray._reconstruct); no network here, so `Py2Pickler` writes files the
way they were made and the tests read those. A planted batch that would run code runs nothing, in a real `bench run`
(and its dry run), and is refused in one line naming it."""
from __future__ import annotations

import io
import os
import pickle
import pickletools
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets

from bench.core.errors import UsageError
from bench.data.kinds.cifar import OFFICIAL_MD5, read_cifar_batch, read_pickle
from bench.data.registry import load_dataset
from tests.helpers import bench

CPU = torch.device("cpu")
CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


class Py2Pickler(pickle._Pickler):
    """Python 2's cPickle at protocol 2: every string (a Python 2 str) as SHORT_BINSTRING or BINSTRING, numpy's
    array reconstruction named from numpy.core, as numpy 1 called it."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: str | bytes) -> None:
        data = obj.encode("latin1") if isinstance(obj, str) else bytes(obj)
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str

    def save_global(self, obj: object, name: str | None = None) -> None:
        module = pickle.whichmodule(obj, obj.__qualname__).replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + f"{module}\n{obj.__qualname__}\n".encode())
        self.memoize(obj)


def py2_pickle(obj: object) -> bytes:
    out = io.BytesIO()
    Py2Pickler(out, protocol=2).dump(obj)
    return out.getvalue()


def write_py2_cifar10(root: Path, per_batch: int = 6) -> dict[str, tuple[np.ndarray, list[int]]]:
    """CIFAR-10's python folder with each file as the original's layout and pickling. Returns each batch's data."""
    rng = np.random.default_rng(0)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    written = {}
    for name in BATCHES:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [i % 10 for i in range(per_batch)]
        (folder / name).write_bytes(py2_pickle({"batch_label": f"{name} of cifar-10", "labels": labels, "data": data,
                                                "filenames": [f"image_{i}.png" for i in range(per_batch)]}))
        written[name] = (data, labels)
    (folder / "batches.meta").write_bytes(py2_pickle({"num_cases_per_batch": per_batch, "label_names": CIFAR10_NAMES,
                                                      "num_vis": 3072}))
    return written


def opcodes(raw: bytes) -> set[tuple[str, object]]:
    return {(op.name, arg if op.name == "GLOBAL" else None) for op, arg, _ in pickletools.genops(raw)}


class RunsCode:
    """What a planted batch holds: unpickling it calls os.system."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_the_test_files_are_pickled_as_the_originals_were(tmp_path):
    write_py2_cifar10(tmp_path)
    raw = (tmp_path / "cifar-10-batches-py" / "data_batch_1").read_bytes()
    assert raw.startswith(b"\x80\x02")  # protocol 2
    ops = opcodes(raw)
    assert {arg for name, arg in ops if name == "GLOBAL"} == {"numpy.core.multiarray _reconstruct", "numpy ndarray",
                                                              "numpy dtype"}
    assert not {name for name, _ in ops} & {"BINUNICODE", "SHORT_BINUNICODE", "BINBYTES", "SHORT_BINBYTES"}


def test_a_batch_written_as_the_originals_were_is_read(tmp_path):
    written = write_py2_cifar10(tmp_path)
    ds = load_dataset("cifar10", tmp_path, 32, seed=0, val_fraction=0.2, device=CPU)
    assert ds.classes == CIFAR10_NAMES and len(ds.train) + len(ds.val) == 30 and len(ds.test) == 6
    images, labels = next(iter(ds.test.batches(100)))
    data, want = written["test_batch"]
    assert torch.equal(images.cpu(), torch.from_numpy(data).reshape(-1, 3, 32, 32))
    assert labels.tolist() == want


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_copy_repacked_by_python3_is_read(tmp_path, protocol):
    data = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": data, b"labels": [3, 7]}, protocol=protocol))
    images, labels = read_cifar_batch(path, b"labels", 10, {})
    assert torch.equal(images, torch.from_numpy(data).reshape(2, 3, 32, 32)) and labels.tolist() == [3, 7]


def test_the_planted_batch_does_run_code_under_plain_pickle(tmp_path):
    """The control: the payload of the tests below is live."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps({b"data": RunsCode(f"touch {marker}")}, protocol=2))
    assert marker.exists()


@pytest.mark.parametrize("payload, named", [
    (lambda marker: RunsCode(f"touch {marker}"), "posix.system"),
    (lambda marker: np.int64(3), "numpy._core.multiarray.scalar"),  # not in a CIFAR batch: refused too
    (lambda marker: {1, 2}, "__builtin__.set"),  # Python 3's protocol 2 names builtins as Python 2 did
])
def test_a_file_asking_for_anything_else_is_refused_naming_it(tmp_path, payload, named):
    marker, path = tmp_path / "ran", tmp_path / "data_batch_2"
    path.write_bytes(pickle.dumps({b"data": payload(marker), b"labels": []}, protocol=2))
    with pytest.raises(UsageError, match=re.escape(f"'{path}' was refused, not read: UnpicklingError: it asks for "
                                                   f"{named}, which")):
        read_pickle(path, {})
    assert not marker.exists()


@pytest.mark.parametrize("content, why", [
    (lambda: py2_pickle({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]})[:-40], "refused, not read"),
    (lambda: py2_pickle([1, 2]), "it holds a list, not a dict"),
    (lambda: py2_pickle({"data": np.zeros((2, 3072), np.float32), "labels": [0, 1]}), "N×3072 uint8 array"),
    (lambda: py2_pickle({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}), "not a list of 2 labels"),
    (lambda: py2_pickle({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 10]}), "class numbers 0-9"),
])
def test_a_damaged_batch_is_refused_in_one_line_naming_it(tmp_path, content, why):
    path = tmp_path / "test_batch"
    path.write_bytes(content())
    with pytest.raises(UsageError, match=why) as refused:
        read_cifar_batch(path, b"labels", 10, {})
    assert f"'{path}'" in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "run"])
def test_a_planted_batch_runs_nothing_in_a_bench_run(tmp_path, dry_run):
    write_py2_cifar10(tmp_path / "data")
    marker, planted = tmp_path / "ran", tmp_path / "data" / "cifar-10-batches-py" / "data_batch_3"
    planted.write_bytes(py2_pickle({"data": RunsCode(f"touch {marker}"), "labels": [0]}))
    result = bench("run", "--suite", "shortcut", "--variants", "plain32", "--epochs", "1", "--device", "cpu",
                   "--dataset", "cifar10", "--data-root", str(tmp_path / "data"),
                   "--results", str(tmp_path / "results"),
                   *(["--dry-run"] if dry_run else []), env={"BENCH_OFFLINE": "1"})
    assert not marker.exists()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert f"'{planted}' was refused" in line and "posix.system" in line
    assert not list((tmp_path / "results").rglob("*.parquet"))


def test_the_official_md5s_are_torchvisions(tmp_path):
    tv = {name: dict(c.train_list + c.test_list) | {c.meta["filename"]: c.meta["md5"]}
          for name, c in (("cifar10", torchvision.datasets.CIFAR10), ("cifar100", torchvision.datasets.CIFAR100))}
    assert OFFICIAL_MD5 == tv


def test_a_modified_copy_is_named_in_one_line(tmp_path, capsys):
    write_py2_cifar10(tmp_path)
    load_dataset("cifar10", tmp_path, 32, seed=0, val_fraction=0.2, device=CPU)
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"bench: cifar10 in '{tmp_path / 'cifar-10-batches-py'}': batches.meta, data_batch_1, ")
    assert all(name in line for name in BATCHES) and "not the official files" in line
