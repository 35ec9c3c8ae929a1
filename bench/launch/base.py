"""The launcher interface: what a launcher is told (the runs still to do, and how to settle each one that ends)
and what it answers (whether the invocation was interrupted, or the id of a detached submission)."""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache
from typing import Any, Callable, Protocol

from ..plan.options import RunOptions
from ..plan.spec import RunSpec
from .eta import SuiteEta

Todo = list[tuple[int, RunSpec]]  # (number in the plan, spec) of each run still to do


@dataclass
class Ended:
    """How one child process ended."""

    code: int  # its exit status (negative: the signal that killed it)
    interrupted: bool = False  # Ctrl-C or SIGTERM reached the runner meanwhile
    timed_out: bool = False  # it ran past --run-timeout and was stopped


Settle = Callable[[RunSpec, Ended, int], bool]  # (spec, how it ended, its number) → True: stop the suite


@dataclass
class Launched:
    """What a launcher did with the runs it was given."""

    interrupted: bool = False
    detached: str | None = None  # a submission id, when the runs go on without this command


class Launcher(Protocol):
    def threads(self, device: object) -> int | None:
        """The thread count each CPU run trains with (part of its identity); None on a GPU."""

    def check(self, device: str) -> None:
        """Refuse, in one line, what this launcher cannot do with these options (before anything runs)."""

    def run(self, todo: Todo, total: int, settle: Settle, eta: SuiteEta | None = None) -> Launched:
        """Run `todo`; settle each run as it ends; stop at Ctrl-C with every finished row kept. `eta` (local
        launchers) is told of each start and gives the suite's time left."""


@dataclass(frozen=True)
class LauncherKind:
    """One launcher: its name (`--launcher NAME`), a line of help, its own options (a dataclass whose fields are
    its `--NAME-...` flags, each with `help` in its metadata; None for none), and how to make it."""

    name: str
    help: str
    options: type | None
    make: Callable[[RunOptions], Launcher]


@cache
def launchers() -> dict[str, LauncherKind]:
    """Every launcher of every module in bench/launch/ that defines LAUNCHER, by name."""
    from .. import launch

    found: dict[str, LauncherKind] = {}
    for module in sorted(pkgutil.iter_modules(launch.__path__), key=lambda m: m.name):
        kind = getattr(importlib.import_module(f"{launch.__name__}.{module.name}"), "LAUNCHER", None)
        if kind is not None:
            found[kind.name] = kind
    return found


def option_fields(kind: LauncherKind) -> list[dataclasses.Field]:
    return list(dataclasses.fields(kind.options)) if kind.options else []


def launcher_options(kind: LauncherKind, values: dict[str, Any]) -> Any:
    """The launcher's options dataclass filled from `values` (`<name>_<field>` keys, as the CLI names them)."""
    if kind.options is None:
        return None
    prefix = f"{kind.name}_"
    return kind.options(**{f.name: values[prefix + f.name] for f in option_fields(kind) if prefix + f.name in values})
