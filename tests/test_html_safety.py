"""Pages show text as text: a suite file whose description, labels (a weights path), published fields and data path
are full of markup, a results folder and compared folders named with markup, a real run of it (one epoch, one seed;
the second variant's weights file does not exist, so its error text holds the markup too), its HTML report and a
`bench compare --format html` page, opened in a real headless Chromium: no script of the text runs (each would set
the title and a window variable), the text is there to read in the DOM, nothing is requested, and the page's own
script still sorts and filters under its Content-Security-Policy. Skipped, saying what to install, where no
browser is."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from tests.helpers import bench, headless_chromium, write_image_folder

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install -e '.[test]'")
from selenium.webdriver.common.by import By  # noqa: E402

RUN = "window.pwned = 1; document.title = 'pwned'"
IMG = f"<img src=x onerror=\"{RUN}\">"
SCRIPT = f"<script>{RUN}</script>"
SVG = f"\"><svg onload=\"{RUN}\">"
LINK = "[click me](javascript:window.pwned=1)"
PICTURE = "![secret](../../../../../etc/hostname)"
DATA = f"data-{IMG}"  # folder names: no slash
WEIGHTS = f"weights-{SVG}.pt"
RESULTS = f"results-{SVG}"
SOURCE = f"Source {IMG}"
TOY = "tests.toy_models:tiny_cnn"


def suite_file(folder, data) -> str:
    description = f"Study {IMG} {SCRIPT} {LINK} {PICTURE} & &lt;b&gt;"
    return f"""name = "hostile"
description = {json.dumps(description)}
dataset = {json.dumps(f"imagefolder:{data}")}
seeds = 1

[recipe]
epochs = 1
batch_size = 8

[[entries]]
variant = "{TOY}"
[[entries]]
variant = "{TOY}"
weights = {json.dumps(str(folder / WEIGHTS))}

[[published]]
source = {json.dumps(SOURCE)}
dataset = {json.dumps(f"<b>ImageNet</b> {LINK}")}
metric = "test_acc"
setting = {json.dumps(SCRIPT)}
values = {{ {json.dumps(TOY)} = 90.0, {json.dumps(IMG)} = 80.0 }}
"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The run's report page and a comparison page of two folders named with markup (copies of the results)."""
    folder = tmp_path_factory.mktemp("hostile")
    write_image_folder(folder / DATA, per_class=4)
    (folder / "hostile.toml").write_text(suite_file(folder, folder / DATA))
    results = folder / RESULTS
    run = bench("run", "--suite", str(folder / "hostile.toml"), "--device", "cpu", "--results", str(results))
    assert run.returncode == 1 and "does not exist" in run.stderr, run.stderr  # the second variant's weights
    report = bench("report", "--results", str(results), "--out", str(folder / "out"), "--format", "both")
    assert report.returncode == 0, report.stderr
    base, head = folder / f"base-{IMG}", folder / f"head-{SVG}"
    shutil.copytree(results, base)
    shutil.copytree(results, head)
    compared = bench("compare", str(base), str(head), "--format", "html")
    assert compared.returncode == 0, compared.stderr
    (folder / "compare.html").write_text(compared.stdout)
    return {"report": folder / "out" / "hostile.html", "markdown": folder / "out" / "hostile.md",
            "compare": folder / "compare.html", "base": base, "head": head, "folder": folder}


@pytest.fixture(scope="module")
def browser():
    with headless_chromium() as driver:
        yield driver


def opened(browser, path):
    """The page loaded; what its console said and which URLs it requested while loading."""
    browser.get_log("browser"), browser.get_log("performance")  # what earlier pages left
    browser.get(path.as_uri())
    browser.execute_script("return new Promise(done => setTimeout(done, 300))")  # a late onerror, onload
    console = [e["message"] for e in browser.get_log("browser")]
    events = [json.loads(e["message"])["message"] for e in browser.get_log("performance")]
    requested = [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]
    return console, requested


def nothing_ran(browser, path, console, requested) -> None:
    assert browser.execute_script("return typeof window.pwned") == "undefined"
    assert browser.title != "pwned"  # what the markup would set it to
    assert console == []  # not even a blocked attempt: the markup never became an element
    assert [u for u in requested if u != path.as_uri() and not u.startswith("data:")] == []
    inert = browser.execute_script("""
        const all = [...document.querySelectorAll('*')];
        return {handlers: all.flatMap(e => [...e.attributes].filter(a => a.name.startsWith('on')).map(a => a.name)),
                scripts: document.scripts.length,
                links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))
                       .filter(h => !h.startsWith('#')),
                styled: document.querySelectorAll('[style]').length};""")
    assert inert == {"handlers": [], "scripts": 1, "links": [], "styled": 0}


def text_of(browser) -> str:
    return browser.execute_script("return document.body.textContent")


def test_the_report_page_runs_nothing_and_shows_the_markup_as_text(pages, browser):
    console, requested = opened(browser, pages["report"])
    nothing_ran(browser, pages["report"], console, requested)
    assert browser.title == "hostile — bench report"
    text = text_of(browser)
    for shown in (IMG, SCRIPT, LINK, PICTURE, "& &lt;b&gt;",  # the description as typed
                  str(pages["folder"] / DATA),  # the data path (the facts)
                  f"{TOY} ({pages['folder'] / WEIGHTS})",  # the label a weights path makes
                  f"weights file '{pages['folder'] / WEIGHTS}' does not exist",  # its error text
                  SOURCE, "<b>ImageNet</b>"):  # published fields
        assert shown in text, shown
    images = browser.execute_script("return [...document.images].map(i => [i.alt, i.src.slice(0, 22)])")
    assert images == [[f"Row-normalised test confusion matrix of {TOY}", "data:image/png;base64,"]]  # only its own
    figures = browser.execute_script("return [...document.querySelectorAll('figure.plot svg')].map("
                                     "s => s.getBoundingClientRect().width)")
    assert figures and all(width > 0 for width in figures)


def test_the_markdown_report_holds_no_markup_of_the_text(pages):
    markdown = pages["markdown"].read_text()
    for active in ("<img", "<script", "<svg", "<b>"):
        assert active not in markdown, active
    assert not re.search(r"(?<!\\)\]\((?!hostile/)", markdown)  # no link but to the report's own pictures
    assert "&lt;img src=x onerror=" in markdown and "\\[click me\\](javascript:" in markdown


def test_the_page_script_still_sorts_and_filters(pages, browser):
    opened(browser, pages["report"])
    heading = next(h for h in browser.find_elements(By.TAG_NAME, "h3") if h.text == "Runs that did not finish")
    failed = heading.find_element(By.XPATH, "following::table[1]")
    assert WEIGHTS in failed.get_attribute("textContent")
    comparison = next(h for h in browser.find_elements(By.TAG_NAME, "h3")
                      if h.text == "Comparison").find_element(By.XPATH, "following::table[1]")
    assert "sortable" in comparison.get_attribute("class")
    variants = [row.find_elements(By.TAG_NAME, "td")[0].get_attribute("textContent")
                for row in comparison.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert variants == [TOY, f"{TOY} ({pages['folder'] / WEIGHTS})"]  # the suite's order
    header = comparison.find_elements(By.CSS_SELECTOR, "thead th")[0]
    header.click()
    header.click()  # descending: the longer label first
    shown = [row.find_elements(By.TAG_NAME, "td")[0].get_attribute("textContent")
             for row in comparison.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert shown == variants[::-1] and header.get_attribute("aria-sort") == "descending"
    box = comparison.find_element(By.XPATH, "preceding-sibling::input[1]")
    box.send_keys("onload")
    kept = [row for row in comparison.find_elements(By.CSS_SELECTOR, "tbody tr") if row.is_displayed()]
    assert [row.find_elements(By.TAG_NAME, "td")[0].get_attribute("textContent") for row in kept] == variants[1:]


def test_the_compare_page_runs_nothing_and_names_its_folders_as_text(pages, browser):
    console, requested = opened(browser, pages["compare"])
    nothing_ran(browser, pages["compare"], console, requested)
    heading = browser.find_element(By.TAG_NAME, "h1").get_attribute("textContent")
    assert heading == f"bench compare: {pages['base']} → {pages['head']}"
    assert browser.title == f"{heading} — bench compare"
    text = text_of(browser)
    assert f"base: {pages['base']} (git" in text and f"head: {pages['head']} (git" in text
    table = browser.find_element(By.CSS_SELECTOR, "main table")
    assert "sortable" in table.get_attribute("class") and WEIGHTS in table.get_attribute("textContent")
