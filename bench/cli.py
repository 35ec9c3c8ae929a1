"""The `bench` command line: parses arguments and delegates; heavy imports happen inside each command."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Callable, NoReturn, Sequence

from .core.argtypes import default_of
from .core.errors import EXIT_INTERRUPTED, EXIT_USAGE, UsageError


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line naming it and where to look, exit status 2 (no usage block); a long
    option is never taken from its abbreviation (`--epoch` is not `--epochs`); an unknown flag named like a recipe
    field points to `--set FIELD=VALUE`."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        hint = recipe_hint(message) or self.closest_flag(message)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}{hint} (see `{self.prog} --help`)\n")

    def closest_flag(self, message: str) -> str:
        """For `unrecognized arguments: --epoch 1`: "; did you mean --epochs?" (the flags of every command)."""
        import difflib

        if not message.startswith("unrecognized arguments:"):
            return ""
        known = {flag for action in self._actions for parser in (getattr(action, "choices", None) or {}).values()
                 if isinstance(parser, argparse.ArgumentParser) for a in parser._actions for flag in a.option_strings}
        for word in message.split(":", 1)[1].split():
            close = difflib.get_close_matches(word.split("=")[0], sorted(known), n=1) if word.startswith("--") else []
            if close:
                return f"; did you mean {close[0]}?"
        return ""


def recipe_hint(message: str) -> str:
    """For `unrecognized arguments: --lr 0.1`: "; recipe fields are set with --set, e.g. --set lr=0.1"."""
    if not message.startswith("unrecognized arguments:"):
        return ""
    from .config.recipe import Recipe

    fields = {f.name for f in dataclasses.fields(Recipe)}
    words = message.split(":", 1)[1].split()
    for i, word in enumerate(words):
        name, _, value = word.lstrip("-").partition("=")
        if word.startswith("--") and name.replace("-", "_") in fields:
            if not value and i + 1 < len(words) and not words[i + 1].startswith("--"):
                value = words[i + 1]
            field_name = name.replace("-", "_")
            return f"; {word.split('=')[0]} is a recipe field: set it with --set {field_name}={value or 'VALUE'}"
    return ""


def version_line() -> str:
    """The package, torch and torchvision versions, read from the installed metadata (no torch import)."""
    from importlib.metadata import PackageNotFoundError, version

    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return f"bench {of('bench')} (torch {of('torch')}, torchvision {of('torchvision')})"


def cmd_models(args: argparse.Namespace) -> int:
    from .commands import models

    return models.models(from_namespace(models.ModelsOptions, args))


def cmd_suites(args: argparse.Namespace) -> int:
    from .commands import suites

    return suites.suites(from_namespace(suites.SuitesOptions, args))


def cmd_run(args: argparse.Namespace) -> int:
    from .commands import run
    from .launch.base import launcher_options, launchers
    from .plan.options import RunOptions

    options = from_namespace(RunOptions, args)
    kinds = launchers()
    for kind in kinds.values():  # another launcher's flag would be ignored: refused instead
        if kind.name != options.launcher and kind.options is not None:
            given = launcher_options(kind, vars(args))
            for f in dataclasses.fields(kind.options):
                if getattr(given, f.name) != default_of(f):
                    flag = f.metadata.get("flag") or f"--{kind.name}-{f.name.replace('_', '-')}"
                    raise UsageError(f"{flag} needs --launcher {kind.name} (it is one of that launcher's options)")
    options.launcher_options = launcher_options(kinds[options.launcher], vars(args))
    return run.run(options)


def cmd_status(args: argparse.Namespace) -> int:
    from .commands import status

    return status.status(from_namespace(status.StatusOptions, args))


def cmd_compare(args: argparse.Namespace) -> int:
    from .commands import compare

    return compare.compare(from_namespace(compare.CompareOptions, args))


def cmd_latency(args: argparse.Namespace) -> int:
    from .commands import latency

    return latency.latency(from_namespace(latency.LatencyOptions, args))


def cmd_report(args: argparse.Namespace) -> int:
    from .commands import report

    return report.report(from_namespace(report.ReportOptions, args))


def from_namespace(cls: type, namespace: argparse.Namespace) -> object:
    """An options dataclass filled, field by field, from the parsed arguments of the same names; a field the parser
    did not declare is a bug, not a default."""
    return cls(**{f.name: getattr(namespace, f.name) for f in dataclasses.fields(cls) if "help" in f.metadata})


def add_option(parser: argparse.ArgumentParser, f: dataclasses.Field, prefix: str | None = None) -> None:
    """The flag of one field declared with bench.core.argtypes.option: `--<name>` (`--<prefix>-<name>`, stored as
    `<prefix>_<name>`, for a launcher's options) unless the declaration names its flag."""
    meta = f.metadata
    kwargs = {k: meta[k] for k in ("type", "metavar", "action", "choices", "required", "nargs") if meta.get(k) is not None}
    name = f"{prefix}-{f.name}" if prefix else f.name
    flag = meta.get("flag") or f"--{name.replace('_', '-')}"
    if flag.startswith("-"):
        kwargs["dest"] = name.replace("-", "_")
    parser.add_argument(flag, default=default_of(f), help=meta["help"], **kwargs)


def add_options(parser: argparse.ArgumentParser, options: type) -> None:
    """A flag for each option field of `options`, in field order; after `launcher`, its choices (the launchers
    found in bench.launch) and each launcher's own flags."""
    for f in dataclasses.fields(options):
        if "help" not in f.metadata:
            continue
        if f.name != "launcher":
            add_option(parser, f)
            continue
        from .launch.base import launchers

        kinds = launchers()
        parser.add_argument("--launcher", choices=list(kinds), default=default_of(f),
                            help="; ".join(f"{k.name}: {k.help}" for k in kinds.values()))
        for kind in kinds.values():
            for own in dataclasses.fields(kind.options) if kind.options else ():
                add_option(parser, own, kind.name)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand, built from each command's options dataclass."""
    from .commands.compare import CompareOptions
    from .commands.latency import LatencyOptions
    from .commands.models import ModelsOptions
    from .commands.report import ReportOptions
    from .commands.status import StatusOptions
    from .commands.suites import SuitesOptions
    from .plan.options import RunOptions

    parser = Parser(prog="bench", description="Train, measure and compare CNN architecture variants.")
    parser.add_argument("--version", action="version", version=version_line())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help, options, func in (
            ("models", "list registered variants with params, MACs, FLOPs and activations", ModelsOptions, cmd_models),
            ("suites", "list the suites with their variants and recipe", SuitesOptions, cmd_suites),
            ("run", "train and measure every variant × seed of a suite into parquet", RunOptions, cmd_run),
            ("status", "runs per status for each suite, the newest failures, SLURM jobs still queued", StatusOptions,
             cmd_status),
            ("report", "write markdown comparison tables and plots from the parquet results", ReportOptions,
             cmd_report),
            ("compare", "compare two sets of runs (folders, commits, machines) variant by variant, each change marked",
             CompareOptions, cmd_compare),
            ("latency", "time the forward pass of a finished folder's runs again, in fresh processes, on a quiet "
             "machine; report and compare then use these figures", LatencyOptions, cmd_latency)):
        p = sub.add_parser(name, help=help)
        add_options(p, options)
        p.set_defaults(func=func)
    return parser


def importable_from_here() -> None:
    """`package.module:function` models resolve from the current folder as they do for `python -m`: the folder goes
    first on this process's path, and on PYTHONPATH for every worker it starts (local or on SLURM nodes)."""
    import os

    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.insert(0, here)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if here not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([here, *paths])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; user errors become one line on stderr and exit status 2."""
    importable_from_here()
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`bench suites | head`): stop quietly, as Unix tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 0
    except Exception as exc:  # only the user's errors are caught here; bugs keep their traceback
        from .plan.errors import user_error_types

        if not isinstance(exc, user_error_types()):
            raise
        print(f"bench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
