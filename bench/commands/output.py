"""How commands print a table: aligned with a units line, CSV (header + rows only) or JSON records."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("table", "csv", "json")


def print_frame(frame: pd.DataFrame, fmt: str, units: str = "") -> None:
    """Print `frame` as an aligned table (with a units line), CSV (header + rows only) or JSON records."""
    if fmt == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        print(frame.to_json(orient="records", indent=2))
    else:
        from tabulate import tabulate

        print(tabulate(frame, headers="keys", tablefmt="simple", showindex=False, intfmt=",", floatfmt=".2f"))
        if units:
            print(f"\nunits: {units}")
