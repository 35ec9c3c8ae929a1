"""Which entries of a suite run, under which recipe: the suite's own, with the command line's overrides."""
from __future__ import annotations

import dataclasses
import difflib

from ..config.recipe import Recipe, parse_assignment, with_overrides
from ..config.suite import Entry, Suite
from ..core.errors import UsageError
from .options import RunOptions


def select_entries(suite: Suite, names: list[str] | None) -> list[Entry]:
    """The suite's entries named in `names` (by variant or label); a registered variant outside the suite joins it."""
    import models

    if not names:
        return list(suite.entries)
    chosen: list[Entry] = []
    for name in names:
        matches = [e for e in suite.entries if name in (e.variant, e.label)]
        if not matches:
            try:
                matches = [Entry(models.get_variant(name).name)]
            except models.UnknownVariantError:
                if ":" in name:  # an outside model: its own error names the part that failed
                    raise
                known = sorted({e.variant for e in suite.entries})
                candidates = list(dict.fromkeys(known + [v.name for v in models.list_variants()]))
                close = difflib.get_close_matches(name, candidates, n=3)
                raise UsageError(f"unknown variant '{name}' for suite {suite.name}; closest: {', '.join(close) or '-'}; "
                                 f"the suite has: {', '.join(known)}") from None
        chosen += [m for m in matches if m not in chosen]
    return chosen


def run_recipe(suite: Suite, options: RunOptions) -> Recipe:
    """The suite's recipe with the command line's overrides: the flags, then every --set KEY=VALUE."""
    flags = {"epochs": options.epochs, "batch_size": options.batch_size, "precision": options.precision,
             "channels_last": options.channels_last, "compile": options.compile}
    settings = dict(parse_assignment(text) for text in options.settings)
    for key, value in flags.items():
        if value is not None and key in settings and settings[key] != value:
            raise UsageError(f"--{key.replace('_', '-')} {value} and --set {key}={settings[key]} disagree; give one")
    return dataclasses.replace(with_overrides(suite.recipe, **flags), **settings)


def check_input_size(entries: list[Entry], input_size: int) -> None:
    import models

    for e in entries:
        smallest = models.get_variant(e.variant).min_input_size
        if input_size < smallest:
            raise UsageError(f"input size {input_size} px is smaller than {e.variant} accepts ({smallest} px); "
                             "choose a larger input_size")
