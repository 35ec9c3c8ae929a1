"""`bench suites`: the named comparisons, their names, or one as a suite file."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..core.argtypes import option


def describe_suites(names_only: bool = False) -> str:
    """Every suite: variants (with what each promises on the defaults), data set, seeds, recipe, published figures."""
    from ..config.builtin import SUITES

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


@dataclass
class SuitesOptions:
    names: bool = option(False, "only the suite names, one per line (for scripts)", action="store_true")
    show: str | None = option(None, "print SUITE as a TOML suite file, ready to copy and edit", metavar="SUITE")


def suites(options: SuitesOptions) -> int:
    """Print every suite (or only their names), or one suite as a TOML file to start from."""
    if options.show:
        from ..config.lookup import get_suite
        from ..config.suitefile import dump_suite

        print(dump_suite(get_suite(options.show)), end="")
        return 0
    print(describe_suites(names_only=options.names))
    return 0
