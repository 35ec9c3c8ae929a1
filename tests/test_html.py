"""`bench report --format html`, opened in a real headless browser (Debian's chromium and chromium-driver, driven by
selenium): the page of the committed stem-ablation rows (two recipes; in a copy, the second recipe's rows carry a
later git sha, as when a recipe changes in a later commit, so that the history view has two) loads with no console
error and no request beyond itself, every picture renders, sorting and filtering act on the rows, and the numbers
in its tables are the parquet rows'. Skipped, saying what to install, where no browser is."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from bench.report.manifest import manifest_path
from bench.store.shards import load_runs
from tests.helpers import EXAMPLES, bench, headless_chromium

SUITE = "stem-ablation"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install -e '.[test]'")
from selenium.webdriver.common.by import By  # noqa: E402


LATER_SHA = "f00dcafe0123"  # the second recipe's rows, as if made at a later commit


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A copy of the committed stem-ablation rows whose batch-64 runs carry LATER_SHA (pyarrow: the shard's own
    schema, one column replaced)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    results = tmp_path_factory.mktemp("rows")
    shutil.copytree(EXAMPLES / SUITE, results / SUITE)
    for shard in (results / SUITE / "runs").glob("*.parquet"):
        table = pq.read_table(shard)
        if json.loads(table.column("identity")[0].as_py())["recipe"]["batch_size"] == 64:
            at = table.schema.get_field_index("git_sha")
            table = table.set_column(at, table.schema.field(at), pa.array([LATER_SHA] * len(table), pa.string()))
            pq.write_table(table, shard)
    return results


@pytest.fixture(scope="module")
def written(tmp_path_factory, folder):
    """The suite's markdown report and HTML page, written by the command a user runs."""
    out = tmp_path_factory.mktemp("report")
    result = bench("report", "--suite", SUITE, "--results", str(folder), "--out", str(out), "--format", "both")
    assert result.returncode == 0, result.stderr
    assert f"wrote {out / SUITE}.html (one self-contained page)" in result.stdout
    return out


@pytest.fixture(scope="module")
def browser():
    with headless_chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def page(browser, written):
    browser.get((written / f"{SUITE}.html").as_uri())
    return browser


@pytest.fixture(scope="module")
def runs(folder):
    rows = load_runs(folder, SUITE)
    return rows[rows["status"] == "ok"]


def cells(table, column: int) -> list[str]:
    """A column's cells in the rows shown (the filter hides rows), whether or not the column itself is in view (a
    table too wide for the window offers some columns behind its chooser)."""
    return [row.find_elements(By.TAG_NAME, "td")[column].get_attribute("textContent").strip()
            for row in table.find_elements(By.CSS_SELECTOR, "tbody tr") if row.is_displayed()]


def table_after(page, heading: str, nth: int = 0):
    """The first table after the nth h3 whose text is `heading`."""
    found = [h for h in page.find_elements(By.TAG_NAME, "h3") if h.text == heading][nth]
    return found.find_element(By.XPATH, "following::table[1]")


def column_of(table, name: str) -> int:
    headers = [th.get_attribute("textContent").strip() for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
    return headers.index(name)


def test_the_page_loads_with_no_console_error_and_no_request_beyond_itself(page, written):
    assert page.title == f"{SUITE} — bench report"
    errors = [entry for entry in page.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    events = [json.loads(entry["message"])["message"] for entry in page.get_log("performance")]
    urls = [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]
    page_url = (written / f"{SUITE}.html").as_uri()
    assert page_url in urls
    assert [u for u in urls if u != page_url and not u.startswith("data:")] == []


def test_every_picture_of_the_markdown_report_renders_in_the_page(page, written):
    markdown = (written / f"{SUITE}.md").read_text()
    pictures_in_markdown = len(re.findall(r"!\[[^\]]*\]\([^)]+\.png\)", markdown))
    images = page.execute_script("return Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
    plots = page.execute_script("return Array.from(document.querySelectorAll('figure.plot svg'))"
                                ".map(s => s.getBoundingClientRect().width)")
    assert all(complete and width > 0 for complete, width in images)
    assert plots and all(width > 0 for width in plots)
    history_plots = 1  # the history view's own picture (two git shas here); the markdown has none
    assert len(images) + len(plots) == pictures_in_markdown + history_plots


@pytest.mark.slow
def test_the_run_tables_hold_the_parquet_rows(page, runs):
    shown = 0
    for nth in range(2):  # one Runs table per experiment (the two recipes)
        table = table_after(page, "Runs", nth)
        ids = cells(table, column_of(table, "run_id"))
        for i, run_id in enumerate(ids):
            row = runs.set_index("run_id").loc[run_id]
            assert cells(table, column_of(table, "variant"))[i] == row["label"]
            assert int(cells(table, column_of(table, "seed"))[i]) == row["seed"]
            assert float(cells(table, column_of(table, "test acc (%)"))[i]) == pytest.approx(100 * row["test_acc"], abs=0.005)
            assert float(cells(table, column_of(table, "epoch time (s)"))[i]) == pytest.approx(row["epoch_time_s"], abs=0.005)
            assert cells(table, column_of(table, "git sha"))[i] == row["git_sha"]
        shown += len(ids)
    assert shown == len(runs)


def test_sorting_a_column_orders_its_rows_by_the_parquet_values(page, runs):
    table = table_after(page, "Runs", 0)
    run_ids = cells(table, column_of(table, "run_id"))
    mine = runs.set_index("run_id").loc[run_ids]
    header = table.find_elements(By.CSS_SELECTOR, "thead th")[column_of(table, "test acc (%)")]
    header.click()
    ascending = list(mine.sort_values("test_acc", kind="stable").index)
    assert cells(table, column_of(table, "run_id")) == ascending
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    shown = [float(c) for c in cells(table, column_of(table, "test acc (%)"))]
    assert shown == sorted(shown, reverse=True) and sorted(cells(table, column_of(table, "run_id"))) == sorted(run_ids)
    assert header.get_attribute("aria-sort") == "descending"  # (ties, e.g. two seeds at 97.88, in either order)
    variant = table.find_elements(By.CSS_SELECTOR, "thead th")[column_of(table, "variant")]
    variant.click()  # text: alphabetical, not by the numbers inside the names
    assert cells(table, column_of(table, "variant")) == sorted(mine["label"])
    comparison = table_after(page, "Comparison", 0)
    epoch = comparison.find_elements(By.CSS_SELECTOR, "thead th")[column_of(comparison, "epoch time (s)")]
    epoch.click()
    times = mine.groupby("label")["epoch_time_s"].median().sort_values()
    assert cells(comparison, column_of(comparison, "variant")) == list(times.index)


def test_the_filter_keeps_the_rows_holding_every_word(page, runs):
    table = table_after(page, "Runs", 1)
    box = table.find_element(By.XPATH, "preceding-sibling::input[1]")
    every = cells(table, column_of(table, "variant"))
    box.send_keys("stem3 nolayer4")
    kept = cells(table, column_of(table, "variant"))
    assert kept == [label for label in every if "stem3" in label and "nolayer4" in label]
    assert kept and len(kept) < len(every)
    box.clear()
    box.send_keys(" ")  # an input event with no words: every row again
    assert cells(table, column_of(table, "variant")) == every


def test_hovering_a_point_names_its_variant_seeds_and_accuracy(page, runs):
    figures = page.find_elements(By.CSS_SELECTOR, "figure.plot[aria-label^='Test accuracy against GMACs']")
    tips = [[t.get_attribute("textContent") for t in f.find_elements(By.CSS_SELECTOR, "g.tip > title")] for f in figures]
    recipes = list(runs.groupby("recipe"))
    assert len(figures) == len(recipes) == 2
    assert sorted(len(t) for t in tips) == sorted(2 * rows["label"].nunique() for _, rows in recipes)  # 2 axes
    for _, rows in recipes:  # some figure holds every variant of this recipe at its mean test accuracy
        def shows(texts: list[str]) -> bool:
            for label, mine in rows.groupby("label"):
                text = next((t for t in texts if t.startswith(f"{label} (")), "")
                found = re.search(r"test accuracy ([\d.]+)", text)
                seeds = sorted(int(x) for x in mine["seed"])
                named = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}"
                if not found or named not in text or \
                        abs(float(found[1]) - 100 * mine["test_acc"].astype(float).mean()) > 0.005:
                    return False
            return True
        assert any(shows(t) for t in tips)


def test_the_history_view_lists_each_identity_of_a_variant_in_time_order(page, runs):
    assert any(h.text == "History across commits" for h in page.find_elements(By.TAG_NAME, "h2"))
    table = table_after(page, "resnet18")
    mine = runs[runs["label"] == "resnet18"].sort_values("finished_at")
    versions = mine.drop_duplicates(["git_sha", "recipe"])
    means = mine.groupby(["git_sha", "recipe"], sort=False)["test_acc"].mean()  # over the version's seeds
    assert cells(table, column_of(table, "git sha")) == list(versions["git_sha"])
    assert [c.split(":")[0] for c in cells(table, column_of(table, "series"))] == ["1", "2"]  # a recipe per series
    changed = cells(table, column_of(table, "what changed since the row before"))
    before, after = (json.loads(r) for r in versions["recipe"])
    for key in (k for k in before if before[k] != after[k]):
        assert f"recipe.{key}" in changed[1]
    accuracies = [float(c.split()[0]) for c in cells(table, column_of(table, "test acc (%)"))]
    assert accuracies == pytest.approx([100 * float(means[(sha, recipe)]) for sha, recipe
                                        in zip(versions["git_sha"], versions["recipe"])], abs=0.005)


def test_html_alone_writes_the_page_and_nothing_beside_it(tmp_path):
    result = bench("report", "--suite", "depth", "--results", str(EXAMPLES), "--out", str(tmp_path), "--format", "html")
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in tmp_path.iterdir() if p != manifest_path(tmp_path, "depth"))  # its own record
    assert written == ["depth.html"]  # no markdown, no picture folder, no staging
    page = (tmp_path / "depth.html").read_text()
    assert 'http-equiv="Content-Security-Policy" content="default-src \'none\'' in page
    assert not re.search(r'\b(src|href)="(?!data:|#)', page)  # every picture the page holds is inline, links within


def test_a_one_variant_suite_gets_its_page_with_its_lone_confusion_matrix(tmp_path):
    """One variant: its confusion matrix stands alone in its paragraph (the page once took it for a plot)."""
    for table in ("runs", "epochs", "predictions"):
        (tmp_path / "results" / "depth" / table).mkdir(parents=True)
        for shard in (EXAMPLES / "depth" / table).glob("resnet18-s0-*.parquet"):
            shutil.copy(shard, tmp_path / "results" / "depth" / table / shard.name)
    result = bench("report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "out"), "--format", "html")
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "out" / "depth.html").read_text()
    assert len(re.findall(r'<p><img alt="Row-normalised test confusion matrix of resnet18" src="data:image/png;base64,',
                          page)) == 1
    assert page.count('<figure class="plot"') == 2  # the learning curves and accuracy against cost


KEY_COLUMNS = ["variant", "test acc (%)", "Δ test vs resnet18 (pp, 95% CI)", "epoch time (s)", "epoch time vs resnet18",
               "GMACs @32px", "params (M)"]  # what a reader compares first: in view at 1,400 px


@pytest.mark.parametrize("width", [800, 1400])
def test_the_page_fits_the_window_with_legible_plots_and_the_default_experiment_first(page, written, width):
    """At 800 and 1,400 px: the page never scrolls sideways, no table does (columns that do not fit wait behind a
    chooser), every plot's text is at least 9 px high as drawn, and the first section is the suite's default."""
    page.set_window_size(width, 1000)
    page.get((written / f"{SUITE}.html").as_uri())
    found = page.execute_script(r"""
        const doc = document.documentElement;
        const texts = [...document.querySelectorAll('figure.plot svg text')].filter(t => t.textContent.trim())
            .map(t => { const m = t.getScreenCTM();  // px as drawn (a rotated label too)
                        return parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b); });
        const tables = [...document.querySelectorAll('main table')];
        return {page: doc.scrollWidth - doc.clientWidth, texts: texts, plots: document.querySelectorAll('figure.plot').length,
                wide: tables.filter(t => t.scrollWidth > t.clientWidth + 1).length,
                first: document.querySelector('main h2').textContent,
                nav: document.querySelector('nav').getBoundingClientRect().width};""")
    assert found["page"] <= 0 and found["wide"] == 0, found
    assert found["texts"] and min(found["texts"]) >= 9, min(found["texts"])  # as drawn: its size × the scale
    assert found["first"].endswith("(default)") and "batch 32" in found["first"]  # the suite's own recipe
    assert page.find_element(By.XPATH, "//main//h2[1]/following::p[1]").text.startswith("This is the suite's own")
    if width == 800:  # the contents go on top, folded, and the text takes the window
        assert found["nav"] > 700 and not page.execute_script("return document.querySelector('nav details').open")
    comparison = table_after(page, "Comparison")
    headers = comparison.find_elements(By.CSS_SELECTOR, "thead th")
    names = [th.get_attribute("textContent").strip() for th in headers]
    assert names[:len(KEY_COLUMNS) + 1] == KEY_COLUMNS[:1] + ["n"] + KEY_COLUMNS[1:]  # the key columns first
    if width == 1400:
        for name in KEY_COLUMNS:
            th = headers[names.index(name)]
            assert th.is_displayed() and th.rect["x"] + th.rect["width"] <= width, name
    hidden = [name for th, name in zip(headers, names) if not th.is_displayed()]
    if hidden:  # the rest are one click away
        chooser = comparison.find_element(By.XPATH, "preceding-sibling::details[1]")
        assert chooser.get_attribute("class") == "columns" and f"{len(hidden)} more column" in chooser.text
        chooser.find_element(By.TAG_NAME, "summary").click()
        box = chooser.find_elements(By.TAG_NAME, "input")[0]
        box.click()
        assert headers[names.index(hidden[0])].is_displayed()
    page.set_window_size(1400, 1000)
    page.get((written / f"{SUITE}.html").as_uri())  # as the other tests expect it



TWO_RECIPES = ("compare", str(EXAMPLES), "--suite", SUITE, "--base-set", "batch_size=32", "--base-set", "lr=0.05",
               "--head-set", "batch_size=64", "--head-set", "lr=0.1", "--head-set", "epochs=32")


def test_compare_as_a_page_holds_every_change_with_its_mark_and_evidence(browser, tmp_path):
    """`bench compare --format html` (stdout, a self-contained page in the report's style): one table row per change
    of the JSON output, each with its mark and evidence; sortable; nothing requested beyond the page."""
    done = bench(*TWO_RECIPES, "--format", "html")
    assert done.returncode == 0 and done.stdout.startswith("<!DOCTYPE html>"), done.stderr
    (tmp_path / "compare.html").write_text(done.stdout)
    found = json.loads(bench(*TWO_RECIPES, "--format", "json").stdout)["changes"]
    browser.set_window_size(1400, 1000)
    browser.get((tmp_path / "compare.html").as_uri())
    assert browser.title.endswith("— bench compare")
    assert [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")] == []
    table = browser.find_element(By.CSS_SELECTOR, "main table")
    assert "sortable" in table.get_attribute("class")
    shown = list(zip(cells(table, 0), cells(table, 1), cells(table, column_of(table, "evidence"))))
    assert shown == [(c["symbol"], c["variant"], c["evidence"].replace("`", "")) for c in found]  # code marks rendered
    header = table.find_elements(By.CSS_SELECTOR, "thead th")[column_of(table, "change")]
    header.click()
    ratios = [float(c.lstrip("×").split()[0]) for c in cells(table, column_of(table, "change")) if c.startswith("×")]
    assert ratios == sorted(ratios) and ratios
    assert browser.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
