"""`bench report` on a results folder that holds several experiments, duplicates, history and predictions.

The rows are written in the real parquet format with values chosen here, so every expected cell is computed
from those chosen values, independently of the report."""
from __future__ import annotations

import dataclasses
import itertools
import json
import re

import numpy as np
import pandas as pd
import pytest

from bench.store.identity import config_hash, experiment_hash
from bench.store.paths import epochs_dir, predictions_dir, runs_dir
from bench.store.schema import EpochRow, PredictionRow, RunRow
from bench.store.shards import write_shard
from tests.helpers import bench
from tests.test_report import parse_table, section

SUITE = "stem-ablation"
BASE, OTHER = "resnet18", "resnet18-stem3"
_clock = itertools.count()


def identity(variant: str, seed: int, dataset: str, batch: int, device: str = "cpu") -> dict:
    return {"architecture": {"variant": variant, "fingerprint": f"fp-{variant}"}, "weights": {"name": "none"},
            "data": {"kind": dataset, "version": "v1"}, "recipe": {"batch_size": batch, "epochs": 2},
            "device": {"kind": device, "name": "Test CPU" if device == "cpu" else "Test GPU"},
            "software": {"torch": "2.14.1"}, "seed": seed}


def write_run(results, variant: str, seed: int, test_acc: float, dataset: str = "digits", batch: int = 64,
              status: str = "ok", labels: tuple[str, ...] = (BASE, OTHER), epoch_time: float = 1.0,
              predictions: list[tuple[int, int]] | None = None, device: str = "cpu", **fields) -> RunRow:
    """One run's shards: its row (with `fields` set over the defaults below; 16 epochs, long enough to judge
    convergence), two epoch rows, and (optionally) (label, predicted) per test image."""
    ident = identity(variant, seed, dataset, batch, device)
    tick = next(_clock)
    run_id = f"{variant}-s{seed}-{dataset}-b{batch}-{tick}"
    ok = status == "ok"
    row = RunRow(run_id, SUITE, variant, variant, "none", dataset, False, seed, status,
                 error=None if ok else "boom", params=11_000_000 if variant == BASE else 12_000_000,
                 macs=37_016_576, input_size=32, num_classes=2, epochs=16, epochs_run=16 if ok else 1,
                 best_val_acc=test_acc if ok else None, best_epoch=2 if ok else None, test_acc=test_acc if ok else None,
                 epoch_time_s=epoch_time if ok else None, train_time_s=2 * epoch_time if ok else None,
                 images_per_s=100 / epoch_time if ok else None, peak_mem_mb=900.0, mem_kind="cpu_rss",
                 latency_ms_b1=2.0, latency_ms_bN=9.0, latency_batch=32, device=device,
                 device_name="Test CPU (2 threads)" if device == "cpu" else "Test GPU",
                 torch_version="2.14.1", torchvision_version="0.29.1", git_sha="abc", config_hash=config_hash(ident),
                 experiment_hash=experiment_hash(ident), identity=json.dumps(ident), recipe=json.dumps({"batch_size": batch}),
                 started_at=f"2026-11-01T00:{tick // 60:02d}:{tick % 60:02d}+00:00",
                 finished_at=f"2026-11-01T01:{tick // 60:02d}:{tick % 60:02d}+00:00", suite_description="stems",
                 suite_labels=list(labels), classes=["a", "b"], confusion=[1, 0, 0, 1] if ok else [])
    row = dataclasses.replace(row, **fields)
    write_shard([row], runs_dir(results, SUITE), run_id)
    if ok:
        write_shard([EpochRow(run_id, e, 1.0, 0.5, 1.0, test_acc, 0.1, epoch_time, 0.1, 100.0) for e in (1, 2)],
                    epochs_dir(results, SUITE), run_id)
    if predictions:
        write_shard([PredictionRow(run_id, i, y, p, 0.9) for i, (y, p) in enumerate(predictions)],
                    predictions_dir(results, SUITE), run_id)
    return row


def report_of(results, tmp_path) -> str:
    done = bench("report", "--results", str(results), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return (tmp_path / "out" / f"{SUITE}.md").read_text()


def cell(values: list[float], digits: int = 2) -> str:
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}" if len(v) > 1 else f"{v.mean():.{digits}f}"


def test_two_data_sets_and_two_batch_sizes_make_four_sections_that_never_mix(tmp_path):
    results = tmp_path / "results"
    rng = np.random.default_rng(0)
    written: dict[tuple[str, int], list[RunRow]] = {}
    for dataset, batch in itertools.product(("digits", "fake"), (64, 32)):
        for variant, seed in itertools.product((BASE, OTHER), (0, 1)):
            row = write_run(results, variant, seed, float(rng.uniform(0.5, 1.0)), dataset, batch,
                            epoch_time=float(rng.uniform(1.0, 1.1)))
            written.setdefault((dataset, batch), []).append(row)
    markdown = report_of(results, tmp_path)
    assert markdown.count("\n## stem-ablation — ") == 4 and "4 experiments" in markdown
    for (dataset, batch), rows in written.items():
        part = section(markdown, f"— {dataset}, batch {batch}, cpu")
        table = parse_table(part, "### Comparison").set_index("variant")
        for variant in (BASE, OTHER):
            mine = [r for r in rows if r.variant == variant]
            assert table.loc[variant, "n"] == "2"
            assert table.loc[variant, "test acc (%)"] == cell([100 * r.test_acc for r in mine])
            assert table.loc[variant, "epoch time (s)"] == cell([r.epoch_time_s for r in mine])
        listed = set(parse_table(part, "### Runs")["run_id"])
        assert listed == {r.run_id for r in rows}  # exactly this experiment's rows, no other


def test_a_report_links_only_its_own_pictures_and_keeps_a_file_it_did_not_write(tmp_path):
    results = tmp_path / "results"
    write_run(results, BASE, 0, 0.8)
    stranger = tmp_path / "out" / SUITE / "an-old-experiment-abc123" / "curves.png"
    stranger.parent.mkdir(parents=True)
    stranger.write_bytes(b"a picture bench did not write")  # no manifest lists it: not bench's to delete
    markdown = report_of(results, tmp_path)
    assert stranger.read_bytes() == b"a picture bench did not write"
    assert "an-old-experiment-abc123" not in markdown
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown):
        assert (tmp_path / "out" / link).is_file()


def test_duplicates_and_history_the_newest_counts_and_the_rest_is_stated(tmp_path):
    results = tmp_path / "results"
    write_run(results, BASE, 0, 0.50)  # older execution of the same identity and seed
    newest = write_run(results, BASE, 0, 0.90)
    write_run(results, OTHER, 0, 0.70)
    failed_later = write_run(results, OTHER, 0, 0.0, status="failed")  # a forced re-run that failed
    markdown = report_of(results, tmp_path)
    table = parse_table(markdown, "### Comparison").set_index("variant")
    assert table.loc[BASE, "test acc (%)"] == f"{100 * newest.test_acc:.2f}" and table.loc[BASE, "n"] == "1"
    assert table.loc[OTHER, "test acc (%)"] == "70.00"  # its ok row still counts
    assert "2 older row(s) of this experiment were set aside" in markdown
    assert failed_later.run_id not in markdown.split("### Runs that did not finish")[1]
    assert len(list(runs_dir(results, SUITE).glob("*.parquet"))) == 4  # nothing deleted


def test_the_suite_order_and_baseline_come_from_the_rows_not_the_code(tmp_path):
    results = tmp_path / "results"
    for variant, seed in itertools.product((BASE, OTHER), (0, 1)):
        write_run(results, variant, seed, 0.8 + 0.05 * seed, labels=(OTHER, BASE))  # the code's order is reversed
    markdown = report_of(results, tmp_path)
    table = parse_table(markdown, "### Comparison")
    assert list(table["variant"]) == [OTHER, BASE]
    assert f"Baseline: **{OTHER}** (the suite's first variant)" in markdown
    assert {f"Δ test vs {OTHER} (pp, 95% CI)", f"epoch time vs {OTHER}"} <= set(table.columns)


def test_a_baseline_without_an_ok_run_is_named_and_delta_left_empty(tmp_path):
    results = tmp_path / "results"
    write_run(results, BASE, 0, 0.0, status="failed")
    write_run(results, OTHER, 0, 0.8)
    markdown = report_of(results, tmp_path)
    table = parse_table(markdown, "### Comparison").set_index("variant")
    assert table.loc[BASE, "n"] == "0" and table.loc[BASE, "Δ test vs resnet18 (pp, 95% CI)"] == "baseline (no ok run)"
    assert table.loc[OTHER, "Δ test vs resnet18 (pp, 95% CI)"] == "–"
    assert "The baseline **resnet18** has no `ok` run in this experiment, so Δ is left empty" in markdown


def test_unequal_seed_sets_are_flagged_and_pairs_counted(tmp_path):
    results = tmp_path / "results"
    base = {0: 0.80, 1: 0.82, 2: 0.90}
    other = {0: 0.85, 1: 0.86}
    for seed, acc in base.items():
        write_run(results, BASE, seed, acc)
    for seed, acc in other.items():
        write_run(results, OTHER, seed, acc)
    markdown = report_of(results, tmp_path)
    table = parse_table(markdown, "### Comparison").set_index("variant")
    d = np.array([100 * (other[s] - base[s]) for s in (0, 1)])
    from scipy import stats

    from statsmodels.stats.power import TTestPower

    half = stats.t.ppf(0.975, 1) * d.std(ddof=1) / np.sqrt(2)
    needed = max(2, int(np.ceil(TTestPower().solve_power(d.mean() / d.std(ddof=1), alpha=0.05, power=0.8))))
    assert table.loc[OTHER, "Δ test vs resnet18 (pp, 95% CI)"] == (
        f"{d.mean():+.2f} [{d.mean() - half:+.2f}, {d.mean() + half:+.2f}], 2 seeds; inconclusive, about {needed} "
        "seeds a side needed")  # p = 0.13 (two pairs): the interval crosses 0
    assert table.loc[BASE, "n"] == "3" and table.loc[BASE, "test acc (%)"] == cell([80, 82, 90])
    assert "Unequal seeds: resnet18-stem3 has seeds 0, 1, the baseline 0, 1, 2; Δ pairs only 0, 1" in markdown


def stratified_exact_p(per_seed: list[tuple[int, int]]) -> float:
    """An independent exact stratified McNemar p-value: the distribution of the summed variant-only counts under
    equal models, built by convolving each seed's Binomial(n_s, 1/2) (scipy's pmf), and the two-sided p-value as
    the probability of every outcome no more likely than the one observed."""
    from scipy.stats import binom

    pmf = np.array([1.0])
    for v, b in per_seed:
        pmf = np.convolve(pmf, binom.pmf(np.arange(v + b + 1), v + b, 0.5))
    observed = pmf[sum(v for v, _ in per_seed)]
    return float(pmf[pmf <= observed * (1 + 1e-7)].sum())


def test_mcnemar_is_stratified_by_seed_and_counts_each_image_once(tmp_path):
    results = tmp_path / "results"
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 60)  # the same 60 test images for every seed
    per_seed = []
    for seed in (0, 1, 2):
        base_right, other_right = rng.random(60) < 0.7, rng.random(60) < 0.8
        per_seed.append((int((other_right & ~base_right).sum()), int((base_right & ~other_right).sum())))
        for variant, right in ((BASE, base_right), (OTHER, other_right)):
            predicted = np.where(right, labels, 1 - labels)
            write_run(results, variant, seed, float(right.mean()),
                      predictions=[(int(y), int(p)) for y, p in zip(labels, predicted)])
    write_run(results, "resnet18-stem3-nolayer4", 0, 0.8, labels=(BASE, OTHER, "resnet18-stem3-nolayer4"))
    markdown = report_of(results, tmp_path)
    table = parse_table(markdown, "### Per-image comparison").set_index("variant")
    only_other = f"{sum(v for v, _ in per_seed)} ({', '.join(str(v) for v, _ in per_seed)})"
    only_base = f"{sum(b for _, b in per_seed)} ({', '.join(str(b) for _, b in per_seed)})"
    p = stratified_exact_p(per_seed)
    assert table.loc[OTHER].tolist() == ["3", "60", only_other, only_base, f"{p:.3g}"]
    assert table.loc["resnet18-stem3-nolayer4"].tolist() == ["–"] * 5  # no predictions: nothing to pair
    assert "seed-to-seed" in markdown and "same test images" in markdown


def test_runs_whose_test_labels_differ_get_a_dash_and_a_note_not_a_traceback(tmp_path):
    results = tmp_path / "results"
    write_run(results, BASE, 0, 0.5, predictions=[(0, 0), (1, 1)])
    write_run(results, OTHER, 0, 0.5, predictions=[(1, 1), (0, 0)])  # the same positions, other labels
    markdown = report_of(results, tmp_path)
    table = parse_table(markdown, "### Per-image comparison").set_index("variant")
    assert table.loc[OTHER].tolist() == ["–"] * 5
    assert f"{OTHER}: its test labels differ from {BASE}'s" in markdown


def test_a_noisy_timing_is_marked(tmp_path):
    results = tmp_path / "results"
    for seed, t in ((0, 1.0), (1, 2.0)):
        write_run(results, BASE, seed, 0.8, epoch_time=t)
        write_run(results, OTHER, seed, 0.8, epoch_time=1.0 + 0.01 * seed)
    markdown = report_of(results, tmp_path)
    table = parse_table(markdown, "### Comparison").set_index("variant")
    assert table.loc[BASE, "epoch time (s)"] == f"{cell([1.0, 2.0])} ⚠"
    assert "⚠" not in table.loc[OTHER, "epoch time (s)"]
    assert "exceeds 20% of its mean" in markdown


@pytest.mark.parametrize("points", [
    [(0.037, 96.0), (0.0371, 96.02), (0.0372, 95.98), (0.0369, 96.01), (0.037, 95.99), (0.0371, 96.0)],
    [(0.02, 10.0), (0.02, 10.0), (1.5, 97.0), (0.9, 96.9)],
])
def test_point_labels_never_overlap_each_other_the_axes_or_the_legend(points):
    from bench.report import plots

    summary = pd.DataFrame({"label": [f"variant-number-{i}" for i in range(len(points))],
                            "gmacs": [x for x, _ in points], "test_acc": [y for _, y in points],
                            "test_acc_sd": [0.1] * len(points), "epoch_time_s": [1 + 0.01 * i for i in range(len(points))],
                            "epoch_time_s_sd": [0.01] * len(points)})
    fig = plots.draw_accuracy_vs_cost(summary)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        texts = [t for t in ax.texts if t.get_text().startswith("variant-number")]
        assert len(texts) == len(points)
        boxes = [t.get_window_extent(renderer) for t in texts]
        frame = ax.get_window_extent(renderer)
        legend = ax.get_legend().get_window_extent(renderer)
        for a, b in itertools.combinations(boxes, 2):
            assert not a.overlaps(b)
        for box in boxes:
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            assert not box.overlaps(legend)


def test_near_chance_is_twice_chance_at_most_halfway_to_perfect():
    from bench.report.judge import near_chance

    assert near_chance(1 / 10) == pytest.approx(0.2) and near_chance(1 / 2) == pytest.approx(0.75)


def test_a_variant_that_stayed_at_chance_gets_a_note(tmp_path):
    results = tmp_path / "results"
    write_run(results, BASE, 0, 0.95)
    write_run(results, OTHER, 0, 0.55)  # 2 classes: chance 50%; near chance = under halfway to 100%, i.e. 75%
    markdown = report_of(results, tmp_path)
    assert f"{OTHER}: best validation accuracy 55.0% stayed near chance (50.0%; under 75.0%)" in markdown
    assert f"{BASE}: best validation" not in markdown
