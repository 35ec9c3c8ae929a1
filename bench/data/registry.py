"""The data set kinds, found in bench/data/kinds/, and the three things the harness does with a `--dataset` spec:
check it cheaply, take its identity, load it. A spec is a kind's name, or `name:PATH` for a kind that takes one."""
from __future__ import annotations

import difflib
import importlib
import pkgutil
from functools import cache
from pathlib import Path

from ..core.errors import UsageError
from . import kinds as kinds_package
from .kind import DataKind


@cache
def all_kinds() -> dict[str, DataKind]:
    """Every kind of every module in bench/data/kinds/, by name, in module order."""
    found: dict[str, DataKind] = {}
    for module in sorted(pkgutil.iter_modules(kinds_package.__path__), key=lambda m: m.name):
        for kind in importlib.import_module(f"{kinds_package.__name__}.{module.name}").KINDS:
            if kind.name in found:
                raise ValueError(f"two data set kinds are called '{kind.name}'")
            found[kind.name] = kind
    return found


def kind_specs() -> list[str]:
    """How each kind is written: digits, ..., imagefolder:PATH, csv:PATH."""
    return [k.spec for k in all_kinds().values()]


def kind_of(spec: str) -> tuple[DataKind, str]:
    """The kind a spec names and its argument (the PATH, or ""); an unknown spec is one line with the closest."""
    name, sep, arg = spec.partition(":")
    kind = all_kinds().get(name)
    if kind is None or (kind.takes_path and not arg) or (sep and not kind.takes_path):
        close = difflib.get_close_matches(spec, list(all_kinds()), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UsageError(f"unknown data set '{spec}'{hint}; choose one of: {', '.join(kind_specs())}")
    return kind, arg


def check_spec(spec: str) -> None:
    """Refuse an unknown data set or a missing path, cheaply, before anything is loaded."""
    kind, arg = kind_of(spec)
    if kind.check is not None:
        kind.check(arg)


def is_image_files(spec: str) -> bool:
    """Whether the spec's images are files decoded into the image cache (built once before the runs start)."""
    return kind_of(spec)[0].image_files


def data_identity(spec: str, data_root: str | Path | None) -> dict[str, object]:
    """What a data set's results depend on: its kind, resolved path and a fingerprint of its content. Cheap (file
    listings and digests, no image decoded)."""
    check_spec(spec)
    kind, arg = kind_of(spec)
    return kind.identity(arg, given_root(data_root))


def load_dataset(spec: str, data_root: Path | None, size: int, seed: int, val_fraction: float, device,
                 decode: bool = True, train_limit: int | None = None, test_limit: int | None = None):
    """The data set named by `spec`, with its validation split carved by `seed`, narrowed to the recipe's
    `train_limit` and `test_limit` (bench.data.base.limited). `decode=False` lets image-file sets skip decoding
    pixels into the image cache (their labels and files are all a check needs)."""
    from .base import Limits, limited

    check_spec(spec)
    kind, arg = kind_of(spec)
    # Sets held whole in memory narrow the splits before resizing (only the images used are made); the image cache's
    # sets are narrowed after, by `limited` (a no-op for the others).
    data = kind.load(arg, given_root(data_root), size, seed, val_fraction, device, decode,
                     Limits(train_limit, test_limit))
    data.origin = data.origin or str(Path(arg).resolve())  # image files: the folder or CSV named
    return limited(data, train_limit, test_limit, seed)


def given_root(data_root: str | Path | None) -> Path | None:
    """--data-root as a path; one that does not exist is refused, never quietly replaced by a default folder."""
    if not data_root:
        return None
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise UsageError(f"--data-root '{data_root}' is not a folder; give the folder that holds the data set "
                         f"(for a CIFAR download, create it first: mkdir -p {data_root})")
    return root
