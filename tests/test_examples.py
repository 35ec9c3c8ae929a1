"""The committed example reports are what `bench report` writes from the committed rows beside them
(reports/results/, written by `make reports`; reports/fashion-mnist/results/, written by `make study`): regenerated here, each markdown file is the same bytes and each
picture the same size, each HTML page the same bytes outside its pictures (whose drawing depends on matplotlib's
version) with as many pictures, so a change that moves a report's text is seen, and the examples are regenerated with
it."""
from __future__ import annotations

import re

import pytest
from PIL import Image

from bench.store.shards import suites_in
from tests.helpers import ROOT, bench

STUDY = ROOT / "reports" / "fashion-mnist"  # the study on real data (make study)
FOLDERS = tuple(f for f in (ROOT / "reports", STUDY) if (f / "results").is_dir())  # reports, and their rows in results/
REPORTS = [pytest.param(folder, suite, id=suite if folder == FOLDERS[0] else f"{folder.name}/{suite}")
           for folder in FOLDERS for suite in suites_in(folder / "results")]


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_every_committed_report_has_its_rows(folder):
    for suffix in ("md", "html"):
        reports = sorted(p.stem for p in folder.glob(f"*.{suffix}"))
        assert reports and reports == suites_in(folder / "results")


PICTURES = re.compile(r"<svg .*?</svg>|data:image/png;base64,[A-Za-z0-9+/=]+", re.S)


def without_pictures(page: str) -> tuple[str, int]:
    """The page's text with each inline SVG and embedded PNG replaced by a mark, and how many there were."""
    return PICTURES.subn("[picture]", page)


@pytest.mark.parametrize("folder, suite", REPORTS)
def test_a_committed_report_regenerates_byte_for_byte(tmp_path, folder, suite):
    result = bench("report", "--suite", suite, "--results", str(folder / "results"), "--out", str(tmp_path),
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
