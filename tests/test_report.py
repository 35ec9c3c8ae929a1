"""`bench report` on real runner output: the markdown's numbers equal the parquet's, pictures exist, failures listed."""
from __future__ import annotations

import re
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats

from bench.store.shards import load_runs
from tests.helpers import bench, write_image_folder

SMALL = ["--dataset", "fake", "--epochs", "2", "--batch-size", "32"]


@pytest.fixture(scope="module")
def report(two_seed_results, tmp_path_factory):
    """The shared two-seed shortcut results, plus one run that fails for real, reported into a fresh folder."""
    results = tmp_path_factory.mktemp("report") / "results"
    shutil.copytree(two_seed_results, results)
    # A run that fails for real while training: a learning rate of 1e30 makes the loss NaN in its first steps.
    images = results.parent / "images"
    write_image_folder(images, per_class=4)
    failing = bench("run", "--device", "cpu", "--suite", "shortcut", "--variants", "resnet47-bottleneck", "--dataset",
                    f"imagefolder:{images}", "--epochs", "1", "--batch-size", "2", "--set", "lr=1e30",
                    "--set", "warmup_epochs=0", "--results", str(results))
    assert failing.returncode == 1, failing.stderr
    out = results.parent / "reports"
    done = bench("report", "--results", str(results), "--out", str(out))
    assert done.returncode == 0, done.stderr
    return results, out, (out / "shortcut.md").read_text()


def section(markdown: str, title: str) -> str:
    """The text of the experiment section whose `## ` title contains `title`."""
    for part in markdown.split("\n## ")[1:]:
        if title in part.splitlines()[0]:
            return part
    raise AssertionError(f"no section titled with {title!r}")


def parse_table(markdown: str, heading: str) -> pd.DataFrame:
    """The first markdown table after `heading`, as strings."""
    section = markdown.split(heading, 1)[1]
    table = []
    for line in section.splitlines():
        if line.startswith("|"):
            table.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif table:
            break
    rows = table[2:]  # after the header and the alignment row
    return pd.DataFrame(rows, columns=table[0])


def expected_cell(values: pd.Series, digits: int, spread: bool = True, timing: bool = False) -> str:
    """mean ± sd; a timing whose sd exceeds a fifth of its mean carries the noise mark."""
    values = values.astype(float)
    if spread and len(values) > 1:
        mean, sd = values.mean(), values.std(ddof=1)
        noisy = " ⚠" if timing and sd > 0.2 * mean else ""
        return f"{mean:.{digits}f} ± {sd:.{digits}f}{noisy}"
    return f"{values.mean():.{digits}f}"


def latency_marks(runs: pd.DataFrame, column: str) -> str:
    """What a latency cell must carry, from the parquet: the largest IQR over a quarter of its median, and
    batch 1 slower than batch 32 in any run."""
    marks = []
    iqr, median = runs[f"{column}_iqr"], runs[column]
    if (iqr > 0.25 * median).any():
        marks.append(f"IQR {iqr[iqr > 0.25 * median].max():.2f}")
    if (runs["latency_ms_b1"] > runs["latency_ms_bN"]).any():
        marks.append("b1 > b32")
    return f" ⚠ {', '.join(marks)}" if marks else ""


def test_table_numbers_equal_the_parquet(report):
    results, _, markdown = report
    table = parse_table(section(markdown, "fake, batch 32"), "### Comparison").set_index("variant")
    runs = load_runs(results, "shortcut")
    ok = runs[runs["status"] == "ok"]
    assert list(table.index) == ["plain32", "resnet32"]  # the suite's order; the failed variant is not averaged in
    for variant, row in table.iterrows():
        mine = ok[ok["variant"] == variant]
        assert row["n"] == "2"
        assert row["params (M)"] == f"{mine['params'].iloc[0] / 1e6:.2f}"
        assert row["GMACs @32px"] == f"{mine['macs'].iloc[0] / 1e9:.3f}"
        assert row["peak mem (MB, cpu_training_rss)"] == expected_cell(mine["peak_mem_mb"], 0)
        busy = " ⚠ busy" if mine["loaded"].fillna(False).any() else ""  # other processes kept the cores busy
        assert row["epoch time (s)"] == expected_cell(mine["epoch_time_s"], 2, timing=True) + busy
        assert row["images/s"] == expected_cell(mine["images_per_s"], 0, timing=True) + busy
        for column, name in (("latency_ms_b1", "latency b1 (ms)"), ("latency_ms_bN", "latency b32 (ms)")):
            assert row[name] == expected_cell(mine[column], 2, timing=True) + latency_marks(mine, column) + busy
        assert row["best val acc (%)"] == expected_cell(mine["best_val_acc"] * 100, 2)
        assert row["test acc (%)"] == expected_cell(mine["test_acc"] * 100, 2)


def test_paired_difference_and_its_interval(report):
    results, _, markdown = report
    table = parse_table(section(markdown, "fake, batch 32"), "### Comparison").set_index("variant")
    ok = load_runs(results, "shortcut").query("status == 'ok'")
    base = ok[ok["variant"] == "plain32"].set_index("seed")["test_acc"] * 100
    other = ok[ok["variant"] == "resnet32"].set_index("seed")["test_acc"] * 100
    d = (other - base).to_numpy()
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    column = "Δ test vs plain32 (pp, 95% CI)"
    assert table.loc["plain32", column] == "baseline"
    assert table.loc["resnet32", column].startswith(
        f"{d.mean():+.2f} [{d.mean() - half:+.2f}, {d.mean() + half:+.2f}], 2 seeds; ")
    p = stats.ttest_rel(other.sort_index(), base.sort_index()).pvalue
    if p >= 0.05:  # adjusted p-values are never below the raw ones
        assert "inconclusive" in table.loc["resnet32", column]


def test_every_linked_picture_exists_and_opens(report):
    _, out, markdown = report
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    names = {link.rsplit("/", 1)[1] for link in links}
    assert {"curves.png", "accuracy-vs-cost.png", "confusion-plain32.png", "confusion-resnet32.png"} <= names
    assert all(link.startswith("shortcut/") for link in links)
    for link in links:
        with Image.open(out / link) as image:
            image.verify()
            assert image.format == "PNG" and image.size[0] > 300


def test_failed_run_is_listed_with_its_error(report):
    results, _, markdown = report
    failed = load_runs(results, "shortcut").query("status == 'diverged'")
    assert len(failed) == 1
    # The image folder is another experiment than the ok runs' fake data: its own section, never mixed in.
    assert "All 4 runs finished with status `ok`." in section(markdown, "fake, batch 32")
    listed = parse_table(section(markdown, "imagefolder"), "### Runs that did not finish")
    assert listed[["variant", "seed", "status"]].values.tolist() == [["resnet47-bottleneck", "0", "diverged"]]
    assert listed["error"].iloc[0] == failed["error"].iloc[0] and "nan" in listed["error"].iloc[0].lower()


def test_header_names_the_machine_recipe_and_data(report):
    results, _, markdown = report
    runs = load_runs(results, "shortcut")
    ok = section(markdown, "fake, batch 32")
    assert f"| device | cpu: {runs['device_name'].iloc[0]} |" in ok
    assert "synthetic random data" in ok and "epochs=2" in ok and "| seeds | 0, 1 |" in ok
    assert "1 MAC = 2 FLOPs" in markdown


def test_no_results_is_one_sentence_and_nonzero(tmp_path):
    result = bench("report", "--results", str(tmp_path / "empty"), "--out", str(tmp_path / "out"))
    assert result.returncode != 0 and "no results under" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_unreadable_shard_is_set_aside_and_named_in_one_line(tmp_path):
    runs = tmp_path / "results" / "shortcut" / "runs"
    runs.mkdir(parents=True)
    (runs / "broken.parquet").write_bytes(b"not parquet at all")
    result = bench("report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "out"))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert lines[0].startswith(f"bench: {runs / 'broken.parquet'}: unreadable") and "moved to" in lines[0]
    assert "set aside 1 damaged file" in lines[1] and "no runs recorded for suite 'shortcut'" in lines[2]
    assert len(lines) == 3
    assert not (runs / "broken.parquet").exists()
    assert (tmp_path / "results" / ".quarantine" / "shortcut" / "runs" / "broken.parquet").read_bytes() == \
        b"not parquet at all"
