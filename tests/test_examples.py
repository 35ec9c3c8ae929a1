"""The committed example reports are what `bench report` writes from the committed rows (examples/results/, written
by `make reports`, reported in reports/; examples/fashion-mnist/results/, written by `make study`, reported in
reports/fashion-mnist/): regenerated here, each markdown file is the same bytes and each picture the same size, each
HTML page the same bytes outside its pictures (whose drawing depends on matplotlib's version) with as many pictures,
so a change that moves a report's text is seen, and the examples are regenerated with it. Each report's manifest
lists exactly its files and its rows, so that `make reports` replaces it without --force."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil

import pytest
from PIL import Image

from bench.store.shards import suites_in
from tests.helpers import EXAMPLES, ROOT, STUDY_RESULTS, bench

STUDY = ROOT / "reports" / "fashion-mnist"  # the study on real data (make study): its reports
ROWS = {ROOT / "reports": EXAMPLES, STUDY: STUDY_RESULTS}  # each folder of committed reports: the rows they are from
FOLDERS = tuple(folder for folder, rows in ROWS.items() if rows.is_dir())
REPORTS = [pytest.param(folder, suite, id=suite if folder == FOLDERS[0] else f"{folder.name}/{suite}")
           for folder in FOLDERS for suite in suites_in(ROWS[folder])]


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_every_committed_report_has_its_rows(folder):
    for suffix in ("md", "html"):
        reports = sorted(p.stem for p in folder.glob(f"*.{suffix}"))
        assert reports and reports == suites_in(ROWS[folder])


PICTURES = re.compile(r"<svg .*?</svg>|data:image/png;base64,[A-Za-z0-9+/=]+", re.S)


def without_pictures(page: str) -> tuple[str, int]:
    """The page's text with each inline SVG and embedded PNG replaced by a mark, and how many there were."""
    return PICTURES.subn("[picture]", page)


@pytest.mark.parametrize("folder, suite", REPORTS)
def test_a_committed_report_regenerates_byte_for_byte(tmp_path, folder, suite):
    result = bench("report", "--suite", suite, "--results", str(ROWS[folder]), "--out", str(tmp_path),
                   "--format", "both")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / f"{suite}.md").read_bytes() == (folder / f"{suite}.md").read_bytes()
    page, committed_page = ((where / f"{suite}.html").read_text() for where in (tmp_path, folder))
    assert without_pictures(page) == without_pictures(committed_page)
    committed = sorted(p.relative_to(folder) for p in (folder / suite).rglob("*.png"))
    regenerated = sorted(p.relative_to(tmp_path) for p in (tmp_path / suite).rglob("*.png"))
    assert regenerated == committed
    for picture in committed:  # pixels depend on matplotlib's version; what is drawn, and its size, do not
        assert Image.open(tmp_path / picture).size == Image.open(folder / picture).size


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("folder, suite", REPORTS)
def test_a_committed_reports_manifest_lists_its_files_and_rows(folder, suite):
    """Beside each committed report, its manifest names every file of it (the markdown, each picture, the page) with
    the sha256 of the committed bytes, and its rows by their path from the report's folder: the same in every
    clone, wherever it lies."""
    manifest = json.loads((folder / f".bench-report-{suite}.json").read_text())
    pictures = {p.relative_to(folder).as_posix(): sha256(p) for p in (folder / suite).rglob("*") if p.is_file()}
    assert manifest["parts"][".md"]["files"] == {f"{suite}.md": sha256(folder / f"{suite}.md"), **pictures}
    assert manifest["parts"][".html"]["files"] == {f"{suite}.html": sha256(folder / f"{suite}.html")}
    rows = os.path.relpath(ROWS[folder], folder)
    assert manifest["parts"][".md"]["results"] == manifest["parts"][".html"]["results"] == [rows]


def test_make_reports_replaces_a_committed_report_without_force(tmp_path):
    """The Makefile's report command (no --force) on a copy of a committed report and its rows, laid out as in the
    repository: the report is replaced, its markdown the committed bytes, and no file is left over or missing."""
    suite, committed = "mobile-vs-resnet", ROOT / "reports"
    reports, rows = tmp_path / "reports", tmp_path / EXAMPLES.relative_to(ROOT)
    shutil.copytree(EXAMPLES / suite, rows / suite)
    shutil.copytree(committed / suite, reports / suite)
    for name in (f"{suite}.md", f"{suite}.html", f".bench-report-{suite}.json"):
        shutil.copy(committed / name, reports / name)
    assert "--force" not in (ROOT / "Makefile").read_text().split("\nreports:", 1)[1].split("\n\n", 1)[0]
    result = bench("report", "--suite", suite, "--results", str(rows), "--out", str(reports), "--format", "both")
    assert result.returncode == 0, result.stderr
    assert (reports / f"{suite}.md").read_bytes() == (committed / f"{suite}.md").read_bytes()
    listed = json.loads((reports / f".bench-report-{suite}.json").read_text())["parts"]
    on_disk = sorted(p.relative_to(reports).as_posix() for p in reports.rglob("*") if not p.name.startswith(".")
                     and p.is_file())
    assert sorted(name for part in listed.values() for name in part["files"]) == on_disk


DECIDED_SUITES = ("stem-ablation", "shortcut")  # the README: run with five seeds so that their orderings are decided
ORDERING_VERDICT = re.compile(r"\*\*The published ordering (holds here|does not hold here|does not show here|"
                              r"cannot be told here yet)\*\*")


@pytest.mark.parametrize("suite", DECIDED_SUITES)
def test_the_five_seed_suites_published_orderings_are_decided(suite):
    """The README says stem-ablation and shortcut run five seeds so that their Published orderings are decided: in
    their committed reports every reference with two or more variants has a verdict, and none is "cannot be told"."""
    verdicts = ORDERING_VERDICT.findall((ROOT / "reports" / f"{suite}.md").read_text())
    assert verdicts and "cannot be told here yet" not in verdicts, verdicts
    assert "five seeds, so that their Published orderings are decided" in " ".join(
        (ROOT / "README.md").read_text().split())


STUDY_SECTION = "## A study on real data: Fashion-MNIST"


def readme_study_table() -> list[list[str]]:
    """The README's study table, cell by cell: its rows between the header and the first blank line after it."""
    text = (ROOT / "README.md").read_text().split(STUDY_SECTION, 1)[1]
    lines = text.split("| suite | variant |", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    return [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]


@pytest.mark.skipif(STUDY not in FOLDERS, reason="the study's rows are not committed (make study)")
def test_the_readmes_study_table_is_the_committed_rows():
    """Each cell of the README's study table worked out again from the committed parquet with pandas alone: the mean
    and sample standard deviation over the seeds' runs of test accuracy, epoch time and images/s (as the report's
    comparison table gives them), and the memory format each run trained in."""
    import pandas as pd

    expected = []
    for suite in ("stem-ablation", "mobile-vs-resnet"):
        runs = pd.read_parquet(STUDY_RESULTS / suite / "runs")
        runs = runs[runs["status"] == "ok"]
        for label in dict.fromkeys(runs.sort_values("started_at")["label"]):
            mine = runs[runs["label"] == label]
            acc = mine["test_acc"] * 100
            formats = sorted({"channels_last" if c else "NCHW" for c in mine["channels_last"]})
            time, rate = mine["epoch_time_s"], mine["images_per_s"]
            expected.append([suite, label, str(len(mine)), f"{acc.mean():.2f} ± {acc.std(ddof=1):.2f}",
                             f"{time.mean():.2f} ± {time.std(ddof=1):.2f}", f"{rate.mean():.0f} ± {rate.std(ddof=1):.0f}",
                             " / ".join(formats)])
    assert readme_study_table() == expected


@pytest.mark.skipif(STUDY not in FOLDERS, reason="the study's rows are not committed (make study)")
def test_the_readmes_study_verdicts_are_the_committed_reports():
    """What the README says each study report decided, found in that report's comparison table (which
    test_a_committed_report_regenerates_byte_for_byte regenerates from the rows)."""
    readme = (ROOT / "README.md").read_text().split(STUDY_SECTION, 1)[1].split("\n## ", 1)[0]
    tables = {suite: (STUDY / f"{suite}.md").read_text().split("### Comparison", 1)[1].split("\n### ", 1)[0]
              for suite in ("stem-ablation", "mobile-vs-resnet")}
    rows = {suite: {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ")}
            for suite, table in tables.items()}
    stem3, mobile = rows["stem-ablation"]["resnet18-stem3"], rows["mobile-vs-resnet"]["mobilenet_v2"]
    assert "+1.05 [+0.59, +1.51], 3 seeds; **better**" in stem3 and "×1.68" in stem3 and "**slower**" in stem3
    assert "**better** by\n  +1.05 pp [+0.59, +1.51] and **slower**, ×1.68" in readme
    for label in ("resnet18-stem3-nolayer4", "resnet18-stem1-nolayer4"):
        cells = rows["stem-ablation"][label].split("|")
        assert "inconclusive" in cells[4] and "inconclusive" in cells[6], label  # accuracy and epoch time
    assert "×0.59" in mobile and "**faster**" in mobile and "inconclusive, about 4 seeds a side needed" in mobile
    assert "**faster** (×0.59 the epoch time)" in readme and "(about 4 seeds a side would tell)" in readme
