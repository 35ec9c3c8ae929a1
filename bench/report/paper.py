"""Tables for a paper: each experiment's comparison as LaTeX (booktabs rules, by pandas' Styler) or CSV — the mean ±
sd over seeds of the catalogue's paper columns (bench.store.metrics, `paper=True`), units in the headers, and the
verdicts against the baseline (bench.report.verdicts, one Benjamini–Hochberg family per experiment, as the report's
comparison table decides them) as marks: * better, † worse, none inconclusive or the same.
"""
from __future__ import annotations

import io

import pandas as pd

from ..store.metrics import BY_COLUMN, METRICS, header
from .experiments import Experiment, experiments, titles
from .judge import against_baseline, counted
from .stats import mean_sd
from .verdicts import BETTER, WORSE, family_statement, verdict

PAPER = [m for m in METRICS if m.paper]
LATEX_MARKS = {BETTER: r"$^{*}$", WORSE: r"$^{\dagger}$"}
PREAMBLE = r"\usepackage{booktabs}"  # what a document that \input's the tables needs


def verdicts(exp: Experiment) -> tuple[dict[str, dict[str, str]], int]:
    """Per variant and column, the verdict against the baseline (the report's own tests), and the family's size."""
    tests, family = against_baseline(exp)
    found = {label: {column: verdict(t, BY_COLUMN[column].lower_is_better) for column, t in mine.items()}
             for label, mine in tests.items()}
    return found, family



def headers(exp: Experiment) -> list[str]:
    ok = exp.ok
    first = ok.iloc[0]
    mem_kind = "/".join(sorted(ok["mem_kind"].dropna().unique())) or "n/a"
    return [header(m, int(first["input_size"]), int(first["latency_batch"]), mem_kind) for m in PAPER]


def figures(exp: Experiment) -> pd.DataFrame:
    """One row per variant: per paper column its mean, sd (None for a count or one value) and n over the runs the
    report's table counts, scaled to the header's unit, and the verdict against the baseline."""
    marks, _ = verdicts(exp)
    rows = []
    for label in exp.labels:
        row: dict[str, object] = {"variant": label}
        for m in PAPER:
            mean, sd, n = mean_sd(counted(exp, label, m.timing)[m.column].astype(float) * m.scale)
            row[(m.column, "mean")], row[(m.column, "sd")], row[(m.column, "n")] = mean, sd if m.spread else None, n
            row[(m.column, "verdict")] = ("baseline" if label == exp.baseline
                                          else marks.get(label, {}).get(m.column, ""))
        rows.append(row)
    return pd.DataFrame(rows)


def cell(m, mean: float, sd: float | None, mark: str) -> str:
    if mean != mean:  # NaN: no run measured it
        return "--"
    text = f"{mean:.{m.digits}f}" + (rf" $\pm$ {sd:.{m.digits}f}" if sd is not None else "")
    return text + LATEX_MARKS.get(mark, "")


def latex_table(title: str, exp: Experiment) -> str:
    """One experiment's table as a LaTeX `table` float with booktabs rules (pandas' Styler.to_latex)."""
    found = figures(exp)
    _, family = verdicts(exp)
    shown = pd.DataFrame({"variant": [escape(v) for v in found["variant"]]}
                         | {h: [cell(m, r[(m.column, "mean")], r[(m.column, "sd")], r[(m.column, "verdict")])
                                for _, r in found.iterrows()]
                            for m, h in zip(PAPER, headers(exp))})
    seeds = sorted({int(n) for n in found[(PAPER[0].column, "n")]})
    caption = (f"{escape(title)}: mean $\\pm$ sd over {'/'.join(map(str, seeds))} seed(s); against {exp.baseline}, "
               f"$^{{*}}$ better, $^{{\\dagger}}$ worse, unmarked inconclusive ({escape(family_statement(family))})")
    styler = shown.style.hide(axis="index").format_index(escape="latex", axis=1)
    return styler.to_latex(hrules=True, column_format="l" + "r" * len(PAPER), position_float="centering",
                           caption=caption, label=f"tab:{slug(title)}")


def escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"), ("_", r"\_"),
                 ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\textasciicircum{}"),
                 ("×", r"$\times$"), ("—", "---"), ("–", "--")):
        text = text.replace(a, b)
    return text


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def latex(suite: str, runs: pd.DataFrame) -> str:
    """Every experiment of a suite as one LaTeX table each, to \\input into a document that loads booktabs."""
    found = experiments(runs)
    tables = [latex_table(title, exp) for title, exp in zip(titles(suite, found), found)]
    return (f"% bench report --format latex: suite {suite}; needs {PREAMBLE} in the preamble\n"
            + "\n".join(tables))


def csv(suite: str, runs: pd.DataFrame) -> str:
    """Every experiment of a suite as rows of one CSV: per variant and paper column its mean, sd and n (in the
    header's unit) and its verdict against the baseline."""
    frames = []
    found = experiments(runs)
    for title, exp in zip(titles(suite, found), found):
        table = figures(exp)
        flat = pd.DataFrame({"experiment": title, "variant": table["variant"]})
        for m in PAPER:  # the header without the experiment's facts, so that experiments share columns
            for part in ("mean", "sd", "n", "verdict"):
                flat[f"{m.label} {part}"] = table[(m.column, part)]
        frames.append(flat)
    out = io.StringIO()
    pd.concat(frames, ignore_index=True).to_csv(out, index=False)
    return out.getvalue()
