"""Finding a suite by what the user typed: a built-in name, or the path of a suite file."""
from __future__ import annotations

import difflib

from ..core.errors import UsageError
from .builtin import SUITES
from .suite import Suite
from .suitefile import is_suite_file, load_suite


def get_suite(name: str) -> Suite:
    """The built-in suite called `name`, or the suite a TOML file describes; else an error listing the suites."""
    if name in SUITES:
        return SUITES[name]
    if is_suite_file(name):
        return load_suite(name)
    close = difflib.get_close_matches(name, list(SUITES), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise UsageError(f"unknown suite '{name}'{hint}; choose one of: {', '.join(SUITES)} (see `bench suites`), "
                     "or give a suite file path.toml")

