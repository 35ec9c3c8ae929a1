"""`bench report`: the markdown report and/or HTML page of each suite found; with --strict, exit 1 naming each
shortfall."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from ..core.argtypes import option
from ..report.formats import FORMATS
from ..report.manifest import manifest_path
from ..store.paths import DEFAULT_REPORTS, DEFAULT_RESULTS


WRITTEN = {".md": " (pictures in {pictures}/)", ".html": " (one self-contained page)",
           ".tex": " (booktabs tables: \\usepackage{{booktabs}})", ".csv": " (one row per variant and experiment)"}


@dataclass
class ReportOptions:
    suite: str | None = option(None, "only this suite (default: every suite found)")
    results: list[str] = option([], f"where `bench run` wrote (default {DEFAULT_RESULTS}/); repeat to read several "
                                "folders as one (runs of several machines): a run found twice counts once",
                                action="append", metavar="DIR")
    out: str = option(DEFAULT_REPORTS, "output folder (default %(default)s/)")
    format: str = option("markdown", "markdown (default: SUITE.md, pictures in SUITE/), html (SUITE.html, one "
                         "self-contained page: sortable and filterable tables, plots with hover texts, a history view "
                         "when the runs span several git shas), both, or a table for a paper: latex (SUITE.tex, one "
                         "booktabs table per experiment: mean ± sd over seeds, verdicts against the baseline as "
                         "marks) or csv (SUITE.csv, the same figures)", choices=tuple(FORMATS))
    strict: bool = option(False, "exit 1, naming each one, when a variant did not plateau, stayed near chance, or fell "
                          "under the test accuracy its suite promises on its defaults (the report is written all the "
                          "same)", action="store_true")
    force: bool = option(False, "replace a report made from other results (its manifest, "
                         f"{manifest_path(Path('.'), 'SUITE').name} in the output folder, says which), or files of "
                         "the report's names that bench did not write there (by hand, or an older bench); files of "
                         "other names are never touched",
                         action="store_true")


def report(options: ReportOptions) -> int:
    """Write the markdown report and pictures of each suite found; with --strict, exit 1 naming each shortfall."""
    from ..report.write import write_reports

    problems = []
    for written in write_reports(options.results or [DEFAULT_RESULTS], options.out, options.suite, options.format,
                                 options.force):
        for path in written.paths:
            print(f"wrote {path}" + WRITTEN.get(path.suffix, "").format(pictures=path.with_suffix("")))
        problems += written.shortfalls
    if options.strict and problems:
        print("\n".join(f"bench: strict: {p}" for p in problems), file=sys.stderr)
        return 1
    return 0
