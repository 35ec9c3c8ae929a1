"""Convergence, measured: `plateaued` and `time_to_95pct_s` against epoch rows built by hand, and the report's mark."""
from __future__ import annotations

import pytest

from bench.measure.convergence import plateaued, time_to_near_best
from bench.store.schema import EpochRow, RunRow
from bench.worker.run import summarize_epochs
from tests.test_experiments import BASE, OTHER, report_of, write_run
from tests.test_report import parse_table


@pytest.mark.parametrize("val_acc, expected", [
    # 7 epochs: the last third rounds up to 3 epochs (5-7); the best before them is 0.905, after 0.912: +0.7 points.
    ([0.30, 0.50, 0.80, 0.905, 0.91, 0.912, 0.90], True),
    # still climbing: 0.80 before, 0.90 in the last third: +10 points.
    ([0.40, 0.50, 0.60, 0.70, 0.80, 0.85, 0.90], False),
    # exactly one point more counts as a plateau; 1.5 points does not (9 epochs: last third 7-9).
    ([0.1, 0.3, 0.5, 0.6, 0.7, 0.80, 0.79, 0.81, 0.80], True),
    ([0.1, 0.3, 0.5, 0.6, 0.7, 0.80, 0.79, 0.815, 0.80], False),
    # 7 epochs, 0.80 before, 0.805 after.
    ([0.1, 0.5, 0.7, 0.80, 0.79, 0.805, 0.80], True),
    # falling at the end is a plateau too: the best came earlier.
    ([0.5, 0.6, 0.7, 0.9, 0.8, 0.7, 0.7], True),
    # too short to judge: under 6 epochs, or under 3 evaluations in the last third (6 epochs: 2)
    ([0.42], None),
    ([0.26, 0.20], None),  # the case: two epochs, accuracy falling between them, once called "yes"
    ([0.5, 0.9, 0.7], None),
    ([0.50, 0.80, 0.90, 0.905, 0.91, 0.912], None),
])
def test_plateaued_by_hand(val_acc, expected):
    assert plateaued(val_acc) is expected


# resnet18-plain, shortcut suite, seed 4 (30 epochs on digits' 179 validation images), in images right: the best of
# epochs 1-20 is 169, of the last third 171. Two images are 1.12 points, past 1 point; the binomial standard error
# at 171/179 = 95.5% is sqrt(0.955 * 0.045 / 179) = 1.55 points, so two images are within the noise of one
# evaluation. Three more images (172 → 1.68 points; its standard error 1.45) are not; on 10,000 validation images
# the standard error (0.2 points) is under 1 point, and 1 point rules.
SEED_4 = [41, 48, 73, 90, 110, 128, 142, 154, 142, 149, 159, 159, 161, 160, 165, 163, 168, 169, 169, 168,
          169, 169, 170, 170, 170, 171, 171, 170, 171, 171]


@pytest.mark.parametrize("right, val_images, expected", [
    (SEED_4, 179, True),
    (SEED_4, None, False),  # the size unknown: 1 point
    (SEED_4[:-1] + [172], 179, False),
    (SEED_4, 10_000, False),  # the same fractions on 10,000 images
])
def test_a_rise_within_one_evaluations_noise_is_a_plateau(right, val_images, expected):
    assert plateaued([r / 179 for r in right], val_images) is expected


def test_time_to_95pct_by_hand():
    # best 0.90 → target 0.855; first reached in epoch 3 after 1 + 2 + 3 s of training.
    assert time_to_near_best([0.20, 0.60, 0.86, 0.90], [1.0, 2.0, 3.0, 4.0]) == (3, 6.0)
    assert time_to_near_best([0.9, 0.1], [2.5, 1.0]) == (1, 2.5)  # the first epoch already was the best
    assert time_to_near_best([], []) == (None, None)


def test_the_run_row_gets_them_from_its_epoch_rows():
    row = RunRow("r", "s", "v", "v", "none", "digits", False, 0, "ok")
    accs, times = [0.3, 0.7, 0.93, 0.94, 0.95, 0.955, 0.96], [2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    epochs = [EpochRow("r", i + 1, 1.0, 0.5, 1.0, acc, 0.1, t, 0.1, 100.0) for i, (acc, t) in enumerate(zip(accs, times))]
    summarize_epochs(row, epochs)
    # best 0.96 → 95% is 0.912: epoch 3, after 2 + 1 + 1 s; last third (0.95, 0.955, 0.96) vs 0.94 before: +2.0
    # points is not a plateau; with 0.95 in epoch 4 it is +1.0
    assert (row.epochs_to_95pct, row.time_to_95pct_s, row.plateaued) == (3, 4.0, False)
    epochs[3].val_acc = 0.95
    summarize_epochs(row, epochs)
    assert (row.epochs_to_95pct, row.time_to_95pct_s, row.plateaued) == (3, 4.0, True)


def test_the_report_marks_a_variant_that_did_not_plateau(tmp_path):
    results = tmp_path / "r"
    for seed in (0, 1):
        write_run(results, BASE, seed, 0.95, plateaued=True, time_to_95pct_s=3.0)
        write_run(results, OTHER, seed, 0.97, plateaued=seed == 0, time_to_95pct_s=5.0)
    text = report_of(results, tmp_path)
    table = parse_table(text, "### Comparison").set_index("variant")
    assert table.loc[OTHER, "converged"] == "no †" and table.loc[BASE, "converged"] == "yes"
    assert table.loc[BASE, "time to 95% of best val (s)"] == "3.0 ± 0.0"
    assert f"† {OTHER}: did not plateau" in text and "seed(s) 1)" in text and "train longer" in text


def test_the_report_marks_a_variant_near_chance(tmp_path):
    results = tmp_path / "r"
    write_run(results, BASE, 0, 0.95, plateaued=True)
    write_run(results, OTHER, 0, 0.52, plateaued=True)  # two classes: chance 50%, near it under 75%
    text = report_of(results, tmp_path)
    table = parse_table(text, "### Comparison").set_index("variant")
    assert table.loc[OTHER, "converged"] == "no †" and table.loc[BASE, "converged"] == "yes"
    assert f"† {OTHER}: best validation accuracy 52.0% stayed near chance" in text


def test_a_run_too_short_to_judge_is_not_called_converged(tmp_path):
    """Two epochs of 26% and 20% once read `converged: yes`; the report judges from epochs_run, so an older row
    that stored plateaued=True for it is judged again."""
    results = tmp_path / "r"
    write_run(results, BASE, 0, 0.95, plateaued=True)  # 16 epochs
    write_run(results, OTHER, 0, 0.26, plateaued=True, epochs=2, epochs_run=2, best_epoch=1)
    text = report_of(results, tmp_path)
    table = parse_table(text, "### Comparison").set_index("variant")
    assert table.loc[OTHER, "converged"] == "too short to judge" and table.loc[BASE, "converged"] == "yes"
    assert f"too short to judge: {OTHER} ran 2 epoch(s), seed(s) 0." in text
    assert "converged: every variant" not in text and "stayed near chance" not in text
    six = tmp_path / "six"
    write_run(six, BASE, 0, 0.95, plateaued=True, epochs_run=6)  # 6 epochs: 2 evaluations in the last third
    write_run(six, OTHER, 0, 0.95, plateaued=True, epochs_run=7)
    table = parse_table(report_of(six, tmp_path / "o6"), "### Comparison").set_index("variant")
    assert (table.loc[BASE, "converged"], table.loc[OTHER, "converged"]) == ("too short to judge", "yes")
