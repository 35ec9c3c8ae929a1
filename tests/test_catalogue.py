"""The column catalogue (bench.store.metrics) is the one home of a measured column: a column added there alone, in a
copy of the project, is in the run's parquet row, `bench run`'s summary, the report's table and `bench compare`;
and every other reader of columns (README's schema, --fail-if, HParams) follows it."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from bench.store.metrics import ACCURACY, BY_KEY, COMPARED, HPARAMS, METRICS, SUMMARY
from bench.store.schema import RunRow
from tests.conftest import SMALL_RUN
from tests.helpers import EXAMPLES, ROOT, quick

# The new column, as a user would add it: one entry, derived from two columns the run already has.
ENTRY = '''    Metric("train_gmacs_per_s", "training GMAC/s", "training multiply-adds per second (3 × `macs` × "
           "`images_per_s` / 10⁹)", float, 1, 1, HIGHER, RUNS, "gmac_rate", summary=True,
           derive=lambda row: 3 * row.macs * row.images_per_s / 1e9),
'''


@pytest.fixture(scope="module")
def copy_with_a_new_column(tmp_path_factory):
    """The project's packages copied, the entry added to METRICS, and two one-seed runs made with the copy."""
    root = tmp_path_factory.mktemp("catalogue")
    project = root / "project"
    for package in ("bench", "models"):
        shutil.copytree(ROOT / package, project / package, ignore=shutil.ignore_patterns("__pycache__"))
    catalogue = project / "bench" / "store" / "metrics.py"
    text = catalogue.read_text()
    end = text.index("]\nBY_COLUMN")
    catalogue.write_text(text[:end] + ENTRY + text[end:])

    def bench(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "bench.cli", *quick(args)], cwd=project, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
        return done

    runs = {side: bench("run", "--suite", "shortcut", "--variants", "plain32", "--seeds", "1", *SMALL_RUN,
                        "--results", str(root / side)) for side in ("base", "head")}
    return root, bench, runs


@pytest.mark.slow
def test_a_column_added_to_the_catalogue_alone_is_in_the_row_summary_report_and_compare(copy_with_a_new_column):
    root, bench, runs = copy_with_a_new_column
    row = pd.read_parquet(next((root / "base" / "shortcut" / "runs").glob("*.parquet"))).iloc[0]
    assert row["train_gmacs_per_s"] == pytest.approx(3 * row["macs"] * row["images_per_s"] / 1e9)  # by hand
    summary = runs["base"].stdout
    assert "training GMAC/s" in summary and f"{row['train_gmacs_per_s']:.3g}" in summary, summary
    bench("report", "--results", str(root / "base"), "--out", str(root / "out"))
    table = (root / "out" / "shortcut.md").read_text()
    header = next(line for line in table.splitlines() if line.startswith("| variant |"))
    assert "training GMAC/s" in header
    found = json.loads(bench("compare", str(root / "base"), str(root / "head"), "--format", "json").stdout)["changes"]
    (change,) = [c for c in found if c["metric"] == "gmac_rate"]
    assert change["name"] == "training GMAC/s" and change["mark"] in ("inconclusive", "not comparable")  # 1 run a side
    assert "gmac_rate" in bench("compare", "--help").stdout  # a --fail-if key


def test_the_run_row_has_one_field_per_catalogue_entry_with_its_type():
    hints = {f.name: f.type for f in __import__("dataclasses").fields(RunRow)}
    for m in METRICS:
        assert m.column in hints and m.type.__name__ in str(hints[m.column]), m.column


def test_compare_measures_and_fail_if_keys_come_from_the_catalogue():
    from bench.commands.compare import parse_fail_if

    assert [m.key for m in COMPARED] == list(BY_KEY) and COMPARED[0].rule == ACCURACY
    limits = parse_fail_if("worse:" + ",".join(f"{m.key}=1.5" for m in COMPARED))
    assert set(limits) == set(BY_KEY)
    latency = {m.key for m in COMPARED if m.column.startswith("latency_")}
    assert set(parse_fail_if("worse:latency=1.2")) == latency


def test_the_summary_and_hparams_read_the_catalogue(two_seed_run):
    """The TensorBoard HParams metrics the run wrote are the catalogue's, read back with TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    results, done = two_seed_run
    assert all(m.header.split(" (")[0].split(" @")[0] in done.stdout for m in SUMMARY), done.stdout
    events = next((results / "tensorboard").rglob("events.out.tfevents.*"))
    tags = set(EventAccumulator(str(events.parent)).Reload().Tags()["scalars"])
    assert {f"run/{m.column}" for m in HPARAMS} <= tags


def test_a_report_parses_each_rows_json_once_and_judges_each_experiment_once(tmp_path, monkeypatch):
    """The committed rows' report (markdown and page), made in this process with json.loads and the convergence
    rule's chance threshold counted: each row's identity and recipe are parsed exactly once (on reading), and each
    variant of each experiment is judged once, however many sections read the judgement (before: 2 + one per
    published reference times)."""
    import json as json_module

    from bench.report import judge
    from bench.report.write import write_reports

    examples = EXAMPLES
    suite = "stem-ablation"
    rows = pd.concat([pd.read_parquet(p) for p in (examples / suite / "runs").glob("*.parquet")])
    texts = set(rows["identity"]) | set(rows["recipe"])
    parsed: list[str] = []
    loads = json_module.loads

    def counting(text, *args, **kwargs):
        if isinstance(text, str) and text in texts:
            parsed.append(text)
        return loads(text, *args, **kwargs)

    judged: list[float] = []
    threshold = judge.near_chance
    monkeypatch.setattr(json_module, "loads", counting)
    monkeypatch.setattr(judge, "near_chance", lambda chance: judged.append(chance) or threshold(chance))
    write_reports([examples], tmp_path, suite, "both")
    assert len(parsed) == 2 * len(rows), (len(parsed), len(rows))  # identity and recipe, once per row
    ok = rows[rows["status"] == "ok"]
    variants = len(ok.groupby([ok["recipe"], ok["label"]]))  # (experiment, variant) pairs, from the files
    assert len(judged) == variants, (len(judged), variants)
