"""Command-line value types and option declarations. An option is declared once, as a dataclass field whose
metadata holds its help, type and metavar; the CLI builds its flag from that (see bench.cli.add_options)."""
from __future__ import annotations

import argparse
from dataclasses import MISSING, field
from typing import Any, Callable


def option(default: Any, help: str | None, *, flag: str | None = None, type: Callable[[str], Any] | None = None,
           metavar: str | None = None, action: str | type | None = None, choices: Any = None, required: bool = False,
           nargs: str | None = None) -> Any:
    """A dataclass field that is also a command-line option: `--<name>` (or `--<prefix>-<name>` for a launcher's
    options) unless `flag` names it (a flag without dashes is positional); `help` may say `%(default)s`. Every other
    keyword is argparse's own. A list default is a fresh list per instance."""
    meta = {"help": help, "flag": flag, "type": type, "metavar": metavar, "action": action,
            "choices": list(choices) if choices is not None else None, "required": required or None, "nargs": nargs}
    if isinstance(default, list):
        return field(default_factory=list, metadata=meta)
    return field(default=default, metadata=meta)


def default_of(f) -> Any:
    return f.default_factory() if f.default is MISSING else f.default


def at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer no smaller than `minimum` (and no larger than `maximum`, when given)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is too small: it must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{value} is too large: it must be at most {maximum:,}")
        return value

    return parse


def positive_seconds(text: str) -> float:
    """An argparse type: a number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be more than 0 seconds")
    return value


def name_list(text: str) -> list[str]:
    """An argparse type: a comma-separated list with at least one name."""
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"'{text}' names nothing: give one or more comma-separated variants")
    return names


def gpu_list(text: str) -> list[int]:
    """An argparse type: comma-separated GPU indices, e.g. 0,1."""
    try:
        gpus = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a list of GPU indices like 0,1") from None
    if not gpus or min(gpus) < 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a list of GPU indices like 0,1")
    return gpus


class StoreOnce(argparse.Action):
    """argparse's store, except that the flag given twice with two values is refused, for the flags where the last
    value silently winning misleads (`bench report --results A --results B` read B only, looking like a merge).
    Other flags keep the convention that the last one wins."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        given = namespace.__dict__.setdefault("_given_once", {})
        if self.dest in given and given[self.dest] != values:
            parser.error(f"{option_string} given twice ({given[self.dest]} and {values}): it takes one value; "
                         "give it once")
        given[self.dest] = values
        setattr(namespace, self.dest, values)
