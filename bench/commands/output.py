"""How commands print a table: aligned with a units line, CSV (header + rows only) or JSON records."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("table", "csv", "json")


def print_frame(frame: pd.DataFrame, fmt: str, units: str = "", as_given: bool = False) -> None:
    """Print `frame` as an aligned table (with a units line), CSV (header + rows only) or JSON records. With
    `as_given` the table shows the frame's text as it is (numbers already formatted), right-aligned where numeric."""
    if fmt == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        print(frame.to_json(orient="records", indent=2))
    else:
        from tabulate import tabulate

        if as_given:
            align = ["right" if all(numeric(v) for v in frame[c]) else "left" for c in frame.columns]
            print(tabulate(frame, headers="keys", tablefmt="simple", showindex=False, disable_numparse=True,
                           colalign=align))
        else:
            print(tabulate(frame, headers="keys", tablefmt="simple", showindex=False, intfmt=",", floatfmt=".2f"))
        if units:
            print(f"\nunits: {units}")


def command_name() -> str:
    """How the user can type this program again: `bench` when that is what PATH finds, else the path it was started
    by (`.venv/bin/bench` under `make run`), else `python -m bench.cli`."""
    import os
    import shutil

    started = sys.argv[0] if sys.argv else ""
    if os.path.basename(started) != "bench":  # `python -m bench.cli`: the interpreter that ran it
        python = shutil.which("python")
        same = python and os.path.realpath(python) == os.path.realpath(sys.executable)
        return f"{'python' if same else sys.executable} -m bench.cli"
    found = shutil.which("bench")
    if found and os.path.realpath(found) == os.path.realpath(started):
        return "bench"
    relative = os.path.relpath(started)
    return relative if len(relative) < len(started) and not relative.startswith("..") else started


def numeric(value: object) -> bool:
    """A number, or text of one (the dash of a missing value counts)."""
    if value == "–" or isinstance(value, (int, float)):
        return True
    try:
        float(str(value))
    except ValueError:
        return False
    return True
