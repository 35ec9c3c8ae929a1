"""What a data set kind is: a name (`digits`, or `imagefolder` for `imagefolder:PATH`), a line of help, and the
three things the harness asks of it — a cheap check of the spec, the identity of its content, and its loader.

Each kind lives in one module of bench/data/kinds/, which lists it in a module-level `KINDS`; bench.data.registry
finds them there. Modules import torch inside their functions, so that `bench --help` can list the kinds.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import torch

    from .base import DataSet


@dataclass(frozen=True)
class DataKind:
    """One kind of data set. `load(arg, data_root, size, seed, val_fraction, device, decode, limits)` returns the
    DataSet (`limits`, bench.data.base.Limits, lets a set held in memory make only the images a run uses);
    `identity(arg, data_root)` what its results depend on (kind, resolved path, content fingerprint), cheaply;
    `check(arg)` refuses a missing path before anything is loaded. `arg` is what follows `name:` (or "")."""

    name: str
    help: str  # one line: where the files come from
    load: Callable[..., "DataSet"]
    identity: Callable[[str, Path | None], dict[str, Any]]
    takes_path: bool = False  # spelled `name:PATH`
    check: Callable[[str], None] | None = None
    image_files: bool = False  # decoded into the image cache: `bench run` builds it once, before any run

    @property
    def spec(self) -> str:
        """How a user writes it: `digits`, `imagefolder:PATH`."""
        return f"{self.name}:PATH" if self.takes_path else self.name


def existing_dir(path: Path, what: str) -> Path:
    from ..core.errors import UsageError

    if not path.is_dir():
        raise UsageError(f"data directory '{path}' does not exist; {what}")
    return path
