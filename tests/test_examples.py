"""The committed example reports are what `bench report` writes from the committed rows beside them
(reports/results/, written by `make reports`): regenerated here, each markdown file is the same bytes and each
picture the same size, each HTML page the same bytes outside its pictures (whose drawing depends on matplotlib's
version) with as many pictures, so a change that moves a report's text is seen, and the examples are regenerated with
it."""
from __future__ import annotations

import re

import pytest
from PIL import Image

from bench.store.shards import suites_in
from tests.helpers import ROOT, bench

EXAMPLES = ROOT / "reports" / "results"
SUITES = suites_in(EXAMPLES)


def test_every_committed_report_has_its_rows():
    for suffix in ("md", "html"):
        reports = sorted(p.stem for p in (ROOT / "reports").glob(f"*.{suffix}"))
        assert reports and reports == SUITES


PICTURES = re.compile(r"<svg .*?</svg>|data:image/png;base64,[A-Za-z0-9+/=]+", re.S)


def without_pictures(page: str) -> tuple[str, int]:
    """The page's text with each inline SVG and embedded PNG replaced by a mark, and how many there were."""
    return PICTURES.subn("[picture]", page)


@pytest.mark.parametrize("suite", SUITES)
def test_a_committed_report_regenerates_byte_for_byte(tmp_path, suite):
    result = bench("report", "--suite", suite, "--results", str(EXAMPLES), "--out", str(tmp_path), "--format", "both")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / f"{suite}.md").read_bytes() == (ROOT / "reports" / f"{suite}.md").read_bytes()
    page, committed_page = ((folder / f"{suite}.html").read_text() for folder in (tmp_path, ROOT / "reports"))
    assert without_pictures(page) == without_pictures(committed_page)
    committed = sorted(p.relative_to(ROOT / "reports") for p in (ROOT / "reports" / suite).rglob("*.png"))
    regenerated = sorted(p.relative_to(tmp_path) for p in (tmp_path / suite).rglob("*.png"))
    assert regenerated == committed
    for picture in committed:  # pixels depend on matplotlib's version; what is drawn, and its size, do not
        assert Image.open(tmp_path / picture).size == Image.open(ROOT / "reports" / picture).size
