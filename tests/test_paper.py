"""`bench report --format latex` and `--format csv` on the committed example rows: the LaTeX compiles with a real
pdflatex (Debian's texlive, with booktabs), and every number in both equals the parquet's, computed here with numpy
from the files themselves; the marks are the report's own verdicts."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from tests.helpers import EXAMPLES, bench

SUITE = "stem-ablation"  # two recipes (two experiments), three seeds each


def parquet_runs() -> pd.DataFrame:
    """The suite's ok runs read straight from their parquet files, with the recipe's batch size."""
    runs = pd.concat([pd.read_parquet(p) for p in (EXAMPLES / SUITE / "runs").glob("*.parquet")], ignore_index=True)
    runs = runs[runs["status"] == "ok"].copy()
    runs["batch"] = [json.loads(r)["batch_size"] for r in runs["recipe"]]
    return runs


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("paper")
    for fmt in ("latex", "csv"):
        done = bench("report", "--suite", SUITE, "--results", str(EXAMPLES), "--out", str(out), "--format", fmt)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return out


def rows_of(tex: str, batch: int) -> dict[str, list[str]]:
    """The body rows of the table whose caption names batch `batch`: variant → cells."""
    table = next(t for t in tex.split(r"\begin{table}")[1:] if f"batch {batch}," in t)
    body = table.split(r"\midrule")[1].split(r"\bottomrule")[0]
    cells = [[c.strip() for c in line.rstrip("\\ ").split("&")] for line in body.strip().splitlines()]
    return {c[0].replace(r"\_", "_"): c[1:] for c in cells}


def test_the_latex_compiles_with_pdflatex_and_booktabs(written, tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("no pdflatex: apt-get install -y texlive-latex-base texlive-latex-recommended (.ci/run does)")
    tex = (written / f"{SUITE}.tex").read_text()
    assert tex.count(r"\toprule") == tex.count(r"\bottomrule") == 2  # one booktabs table per experiment
    (tmp_path / "paper.tex").write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\usepackage[margin=1cm,"
                                        "landscape]{geometry}\n\\begin{document}\n\\input{"
                                        f"{written / SUITE}.tex}}\n\\end{{document}}\n")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "paper.pdf").stat().st_size > 1000
    log = (tmp_path / "paper.log").read_text(errors="replace")
    assert "Overfull \\hbox" not in log and "Missing character" not in log, log[-3000:]  # it fits; every glyph set


@pytest.mark.parametrize("batch", [32, 64])
def test_the_latex_numbers_are_the_parquets(written, batch):
    rows = rows_of((written / f"{SUITE}.tex").read_text(), batch)
    runs = parquet_runs()
    mine = runs[runs["batch"] == batch]
    assert set(rows) == set(mine["label"])
    for label, cells in rows.items():
        acc = mine.loc[mine["label"] == label, "test_acc"].to_numpy() * 100
        assert cells[0].startswith(f"{acc.mean():.2f} $\\pm$ {acc.std(ddof=1):.2f}"), (label, cells[0])
        times = mine.loc[mine["label"] == label, "epoch_time_s"].to_numpy()
        assert cells[1].startswith(f"{times.mean():.2f} $\\pm$ {times.std(ddof=1):.2f}"), (label, cells[1])
        first = mine[mine["label"] == label].iloc[0]
        assert f"{first['macs'] / 1e9:.3f}" in cells and f"{first['params'] / 1e6:.2f}" in cells


def test_the_marks_are_the_reports_verdicts(written):
    """A variant the report's table calls **slower** or **faster** than the baseline carries † or * on its epoch
    time; an inconclusive one carries none."""
    report = bench("report", "--suite", SUITE, "--results", str(EXAMPLES), "--out", str(written / "md"))
    assert report.returncode in (0, 1)
    markdown = (written / "md" / f"{SUITE}.md").read_text()
    tex = (written / f"{SUITE}.tex").read_text()
    seen = 0
    for batch in (32, 64):
        section = next(s for s in markdown.split("\n## ")[1:] if f"batch {batch}," in s.splitlines()[0])
        start = section.index("| variant | n |")
        table = [line for line in section[start:].split("\n\n")[0].splitlines() if line.startswith("| ")]
        head = [c.strip() for c in table[0].strip("|").split("|")]
        column = next(i for i, h in enumerate(head) if h.startswith("epoch time vs"))
        for line in table[2:]:
            cells = [c.strip() for c in line.strip("|").split("|")]
            time = rows_of(tex, batch)[cells[0]][1]
            word = re.search(r"\*\*(slower|faster)\*\*", cells[column])
            expected = {"slower": r"$^{\dagger}$", "faster": r"$^{*}$"}.get(word.group(1)) if word else None
            assert (time.endswith(expected) if expected else "$^{" not in time), (cells[0], time, cells[column])
            seen += bool(word)
    assert seen  # the committed rows hold decided time verdicts


def test_the_csv_holds_the_same_figures_unrounded(written):
    table = pd.read_csv(written / f"{SUITE}.csv")
    runs = parquet_runs()
    assert len(table) == len(runs.groupby(["batch", "label"]))
    for _, row in table.iterrows():
        batch = int(re.search(r"batch (\d+)", row["experiment"]).group(1))
        acc = runs.loc[(runs["batch"] == batch) & (runs["label"] == row["variant"]), "test_acc"].to_numpy() * 100
        assert row["test acc (%) mean"] == pytest.approx(acc.mean()) and row["test acc (%) n"] == len(acc)
        assert row["test acc (%) sd"] == pytest.approx(np.std(acc, ddof=1))
        assert row["test acc (%) verdict"] in ("baseline", "better", "worse", "same", "inconclusive")
