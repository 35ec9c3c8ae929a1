"""The work behind each CLI command that is not a module of its own: tables of variants and printing."""
from __future__ import annotations

import dataclasses
import sys

import pandas as pd

MODEL_COLUMNS = ["variant", "params", "trainable_params", "macs", "flops", "other_ops", "activations", "size_mb",
                 "input_size", "num_classes", "skipped_ops"]


def models_table(pattern: str | None, tag: str | None, input_size: int, num_classes: int) -> pd.DataFrame:
    """One row per matching variant with its profile at `input_size` and `num_classes`."""
    import models

    from .profile import profile_model

    from .errors import UsageError

    rows = []
    variants = models.list_variants(pattern, tag)
    for variant in variants:
        if input_size < variant.min_input_size:
            raise UsageError(f"--input-size {input_size} is smaller than {variant.name} accepts "
                             f"({variant.min_input_size} px)")
    for variant in variants:
        profile = profile_model(variant.build(num_classes=num_classes), input_size, num_classes)
        rows.append({"variant": variant.name, **dataclasses.asdict(profile)})
    return pd.DataFrame(rows, columns=MODEL_COLUMNS)


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


def describe_suites(names_only: bool = False) -> str:
    """Every suite: variants (with what each promises on the defaults), data set, seeds, recipe, published figures."""
    from .suites import SUITES

    if names_only:
        return "\n".join(SUITES)
    blocks = []
    for suite in SUITES.values():
        promised = [f"{e.label} ≥ {e.min_test_acc:.0%}" for e in suite.entries if e.min_test_acc is not None]
        lines = [f"{suite.name}: {suite.description}",
                 f"  variants: {', '.join(e.label for e in suite.entries)}  (baseline: {suite.entries[0].label})",
                 f"  dataset: {suite.dataset}; seeds: {suite.seeds}",
                 "  recipe: " + ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(suite.recipe).items())]
        if promised:
            lines.append(f"  promised test accuracy on these defaults: {', '.join(promised)}")
        for ref in suite.published:
            values = ", ".join(f"{label} {value:g}" for label, value in ref.values)
            lines.append(f"  published ({ref.source}; {ref.dataset}; {ref.metric}): {values}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
