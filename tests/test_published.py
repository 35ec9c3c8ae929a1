"""Published figures beside the measured ones, and `bench report --strict`, on rows written in the real format.

Expected orderings and cells are worked out by hand from the values chosen here; the suites' published figures
are checked against their independent sources where one is installed (torchvision's weights metadata)."""
from __future__ import annotations

import json
import re

import pytest
import torch
import torchvision.models as tvm

import numpy as np
from scipy import stats

from bench.report.published import verdict_text
from bench.store.metrics import BY_COLUMN
from bench.plan.options import RunOptions
from bench.plan.prepare import plan
from bench.config.builtin import SUITES
from bench.config.lookup import get_suite
from bench.config.suite import Published
from tests.helpers import bench
from tests.test_experiments import BASE, OTHER, SUITE, write_run
from tests.test_report import parse_table

THIRD = "resnet18-stem3-nolayer4"
LABELS = (BASE, OTHER, THIRD)


def published(*refs: Published) -> str:
    return json.dumps([r.to_dict() for r in refs])


def report(results, tmp_path, *extra: str):
    done = bench("report", "--results", str(results), "--out", str(tmp_path / "out"), *extra)
    assert "Traceback" not in done.stderr
    return done, (tmp_path / "out" / f"{SUITE}.md").read_text()


def published_part(markdown: str) -> str:
    return markdown.split("### Published", 1)[1].split("\n### ", 1)[0]


def test_published_values_sit_beside_the_measured_ones_and_the_ordering_is_judged(tmp_path):
    results = tmp_path / "r"
    accuracy = Published("Someone 2020, Table 1", "CIFAR-10 (test)", "test_acc",
                         ((BASE, 90.0), (OTHER, 80.0), (THIRD, 70.0)), "200 epochs", "cifar10")
    timing = Published("Someone 2020, Table 2", "CIFAR-10", "epoch_time_s", ((BASE, 40.0), (OTHER, 186.0)), "a GPU")
    refs = published(accuracy, timing)
    base_acc, other_acc = [93.0, 94.0, 95.0], [96.0, 96.5, 97.5]  # three seeds each, OTHER above by 2.5–3 points
    for seed, (b, o) in enumerate(zip(base_acc, other_acc)):
        write_run(results, BASE, seed, b / 100, labels=LABELS, suite_published=refs, epoch_time=1.0 + seed / 100,
                  test_images=500)
        write_run(results, OTHER, seed, o / 100, labels=LABELS, suite_published=refs, epoch_time=3.0 + seed / 100,
                  test_images=500)
    write_run(results, THIRD, 0, 0.91, labels=LABELS, suite_published=refs, epoch_time=2.0, test_images=500)
    done, markdown = report(results, tmp_path)
    assert done.returncode == 0, done.stderr
    part = published_part(markdown)
    first = parse_table(part, "Someone 2020, Table 1").set_index("variant")
    assert first.loc[BASE].tolist() == ["90", "94.00 (n=3)"]
    assert first.loc[OTHER].tolist() == ["80", "96.67 (n=3)"]
    assert first.loc[THIRD].tolist() == ["70", "91.00"]
    # Published BASE > OTHER > THIRD. BASE/OTHER: three seeds, paired: OTHER above on every seed, p (scipy) small:
    # fails. THIRD ran one seed: its two pairs cannot be told. The family is the one tested pair.
    p = stats.ttest_rel(base_acc, other_acc).pvalue
    assert p < 0.05
    table_1 = part.split("Someone 2020, Table 2")[0]
    assert "**Of 3 published pairs: 0 hold here, 1 fail, 0 the same here, 2 inconclusive** (1 test(s) made" in table_1
    # One reversed pair refutes the ordering, however many others cannot be told.
    assert "**The published ordering does not hold here**: 1 pair of 3 reversed." in table_1
    assert f"Fail: {BASE} is above {OTHER} as published, below here (94 vs 96.67)." in table_1
    assert f"Inconclusive: {BASE} vs {THIRD} (one seed on a side, about " in table_1
    assert "The same data set as this run" not in table_1 and "only the ordering can be compared" in table_1
    # Epoch times: 186 s > 40 s published, 3.0 s > 1.0 s measured over three runs a side: the ordering holds.
    table_2 = "Someone 2020, Table 2" + part.split("Someone 2020, Table 2")[1]
    second = parse_table(table_2, "Someone 2020, Table 2").set_index("variant")
    assert second.loc[OTHER].tolist() == ["186", "3.01 (n=3)"] and second.loc[BASE].tolist() == ["40", "1.01 (n=3)"]
    assert "**Of 1 published pair: 1 hold here, 0 fail, 0 the same here, 0 inconclusive**" in table_2
    assert "**The published ordering holds here**: every pair it publishes apart." in table_2


def test_the_same_data_set_is_named_as_such_and_one_seed_is_inconclusive(tmp_path):
    results = tmp_path / "r"
    ref = published(Published("X", "digits", "test_acc", ((BASE, 99.0), (OTHER, 98.0)), "100 epochs", "digits"))
    write_run(results, BASE, 0, 0.97, suite_published=ref, test_images=400)
    write_run(results, OTHER, 0, 0.95, suite_published=ref, test_images=400)
    _, markdown = report(results, tmp_path)
    part = published_part(markdown)
    assert "The same data set as this run (digits); the recipe differs: 100 epochs." in part
    assert "**Of 1 published pair: 0 hold here, 0 fail, 0 the same here, 1 inconclusive** (no test could be made" in part
    assert "**The published ordering cannot be told here yet**: 1 of 1 pairs inconclusive, none reversed." in part
    assert f"{BASE} vs {OTHER} (one seed a side, about " in part and "seeds a side needed" in part


def test_runs_on_a_slice_show_the_values_side_by_side_and_no_verdict(tmp_path):
    """A training slice: the published and measured values still sit side by side (as far as the setting allows),
    and one line says why there is no verdict, in place of it."""
    from tests.test_experiments import identity

    results = tmp_path / "r"
    ref = published(Published("Zalando", "Fashion-MNIST (test)", "test_acc", ((BASE, 94.9), (OTHER, 95.0)),
                              "the full 60,000 training images", "digits"))
    for seed in range(3):
        for label, acc in ((BASE, 0.80 + seed / 100), (OTHER, 0.85 + seed / 100)):
            sliced = identity(label, seed, "digits", 64)
            sliced["recipe"]["train_limit"] = 1000
            write_run(results, label, seed, acc, suite_published=ref, test_images=400, identity=json.dumps(sliced))
    _, markdown = report(results, tmp_path)
    part = published_part(markdown)
    table = parse_table(part, "Zalando").set_index("variant")
    assert table.loc[BASE].tolist() == ["94.9", "81.00 (n=3)"] and table.loc[OTHER].tolist() == ["95", "86.00 (n=3)"]
    assert ("No verdict: 1,000-image, 16-epoch runs (trained on a slice of the training split): not judged against "
            "full-scale published figures") in part
    assert "published pair" not in part and "Measured (mean over runs)" not in part


def test_rows_without_references_have_no_published_section(tmp_path):
    results = tmp_path / "r"
    write_run(results, BASE, 0, 0.97)
    _, markdown = report(results, tmp_path)
    assert "### Published" not in markdown


@pytest.mark.parametrize("rows, problems", [
    # (variant, seed, test acc, plateaued, promised floor)
    ([(BASE, 0, 0.95, True, 0.9), (OTHER, 0, 0.97, True, 0.9)], []),
    ([(BASE, 0, 0.95, True, 0.9), (OTHER, 0, 0.89, True, 0.9)], [f"{OTHER}: test accuracy 89.0% (seed 0) is under"]),
    ([(BASE, 0, 0.95, True, 0.9), (OTHER, 0, 0.97, False, 0.9)], [f"{OTHER}: did not plateau"]),
    # no promise: a worse plain net is a finding (80% is above "near chance" for these rows' two classes, 75%)
    ([(BASE, 0, 0.95, True, 0.9), (OTHER, 0, 0.80, True, None)], []),
])
def test_strict_names_each_shortfall_and_exits_1(tmp_path, rows, problems):
    results = tmp_path / "r"
    for variant, seed, acc, plateau, floor in rows:
        write_run(results, variant, seed, acc, plateaued=plateau, min_test_acc=floor)
    lenient, _ = report(results, tmp_path)
    assert lenient.returncode == 0, lenient.stderr
    strict, _ = report(results, tmp_path, "--strict")
    assert (tmp_path / "out" / f"{SUITE}.md").is_file()  # written all the same
    lines = [line for line in strict.stderr.splitlines() if line.startswith("bench: strict: ")]
    assert strict.returncode == (1 if problems else 0), strict.stderr
    assert len(lines) == len(problems)
    for line, expected in zip(lines, problems):
        assert expected in line and "stem-ablation — digits, batch 64, cpu" in line


def test_strict_fails_a_promised_entry_without_an_ok_run(tmp_path):
    results = tmp_path / "r"
    write_run(results, BASE, 0, 0.95, plateaued=True, min_test_acc=0.9)
    write_run(results, OTHER, 0, 0.0, status="failed", min_test_acc=0.9)
    strict, _ = report(results, tmp_path, "--strict")
    assert strict.returncode == 1 and f"{OTHER}: no ok run, but its suite promises at least 90%" in strict.stderr


def test_promises_travel_only_on_the_suites_own_defaults(tmp_path):
    suite = get_suite("depth")
    on_defaults = plan(suite, RunOptions(results=str(tmp_path)), torch.device("cpu"))
    assert {s.min_test_acc for s in on_defaults} == {0.9}
    assert json.loads(on_defaults[0].suite_published) == [p.to_dict() for p in suite.published]
    for change in ({"epochs": 1}, {"dataset": "fake"}, {"batch_size": 8}):
        other = plan(suite, RunOptions(results=str(tmp_path), **change), torch.device("cpu"))
        assert {s.min_test_acc for s in other} == {None}, change


def test_every_published_figure_names_its_suites_variants_and_a_shown_metric():
    for suite in SUITES.values():
        labels = {e.label for e in suite.entries}
        for ref in suite.published:
            assert ref.metric in BY_COLUMN
            assert {label for label, _ in ref.values} <= labels, (suite.name, ref.source)


WEIGHTS = {"resnet18": tvm.ResNet18_Weights, "resnet34": tvm.ResNet34_Weights, "resnet50": tvm.ResNet50_Weights,
           "resnet101": tvm.ResNet101_Weights, "resnet152": tvm.ResNet152_Weights}


def test_torchvision_figures_equal_torchvisions_own_metadata():
    checked = 0
    for suite in SUITES.values():
        for ref in suite.published:
            if not ref.source.startswith("torchvision"):
                continue
            for label, value in ref.values:
                meta = WEIGHTS[label.split(" ")[0]].IMAGENET1K_V1.meta
                assert value == pytest.approx(meta["_metrics"]["ImageNet-1K"]["acc@1"], abs=1e-6), label
                checked += 1
    assert checked == 7  # depth's five, pretrained-vs-scratch's two


def seeds(*values: float) -> dict[int, float]:
    return dict(enumerate(values))


def test_a_reversed_ordering_names_three_pairs_and_counts_the_rest():
    published = {"a": 5.0, "b": 4.0, "c": 3.0, "d": 2.0, "e": 1.0}
    jitter = (0.0, 0.1, -0.1)
    runs = {k: seeds(*(6 - v + j for j in jitter)) for k, v in published.items()}  # every one of 10 pairs reversed
    text = verdict_text(published, runs, BY_COLUMN["test_acc"])
    assert "**Of 10 published pairs: 0 hold here, 10 fail, 0 the same here, 0 inconclusive** (10 test(s) made" in text
    assert "Fail: a is above b as published, below here (1 vs 2); a is above c" in text
    assert text.count(" as published, below here") == 3 and text.endswith("; and 7 more.")
    same = verdict_text(published, {k: seeds(*(v + j for j in jitter)) for k, v in published.items()},
                        BY_COLUMN["test_acc"])
    assert "**Of 10 published pairs: 10 hold here, 0 fail, 0 the same here, 0 inconclusive**" in same


def test_a_pair_verdict_is_scipys_paired_t_adjusted_with_its_family():
    from bench.report.published import HOLDS, INCONCLUSIVE, pair_verdicts

    runs = {"a": seeds(95.0, 95.5, 94.8, 95.2), "b": seeds(94.0, 94.9, 94.1, 94.0), "c": seeds(94.5, 95.0, 94.0, 95.9)}
    pairs, family = pair_verdicts({"a": 3.0, "b": 2.0, "c": 1.0}, runs, BY_COLUMN["test_acc"])
    raw = {(p.high, p.low): stats.ttest_rel(list(runs[p.high].values()), list(runs[p.low].values())).pvalue
           for p in pairs}
    adjusted = dict(zip(raw, stats.false_discovery_control(list(raw.values()), method="bh")))
    assert family == 3
    for p in pairs:
        assert p.test.p == pytest.approx(raw[(p.high, p.low)]) and p.test.p_adjusted == pytest.approx(
            adjusted[(p.high, p.low)])
        assert p.word == (HOLDS if adjusted[(p.high, p.low)] < 0.05 and p.test.estimate > 0 else INCONCLUSIVE)


def test_published_reads_the_rows_the_table_reads_contended_timings_left_out(tmp_path):
    """A contended run is left out of the table's timing means: the Published value beside it is the same mean."""
    results = tmp_path / "r"
    ref = published(Published("W", "that data", "epoch_time_s", ((BASE, 40.0), (OTHER, 41.0)), "a GPU"))
    write_run(results, BASE, 0, 0.95, suite_published=ref, epoch_time=4.82)
    write_run(results, BASE, 1, 0.95, suite_published=ref, epoch_time=6.80, contended=True,
              contended_with=["elsewhere"])
    write_run(results, OTHER, 0, 0.95, suite_published=ref, epoch_time=5.0)
    write_run(results, OTHER, 1, 0.95, suite_published=ref, epoch_time=5.2)
    _, markdown = report(results, tmp_path)
    table = parse_table(markdown, "### Comparison").set_index("variant")
    shown = parse_table(published_part(markdown), "W").set_index("variant")
    assert table.loc[BASE, "epoch time (s)"].startswith("4.82") and shown.loc[BASE, "measured epoch time (s)"] == "4.82"
    # one BASE run left (4.82 s, not the contended 6.80 s): a time needs three runs a side to be tested
    assert "**Of 1 published pair: 0 hold here, 0 fail, 0 the same here, 1 inconclusive**" in published_part(markdown)
    assert re.search(f"{OTHER} vs {BASE} \\(1 run a side \\(a test needs 3\\), about \\d+ runs a side needed\\)",
                     published_part(markdown))


def test_flagged_variants_are_left_out_of_the_verdict_with_one_line(tmp_path):
    results = tmp_path / "r"
    ref = published(Published("V", "that data", "test_acc", ((BASE, 90.0), (OTHER, 80.0), (THIRD, 70.0)), "x"))
    write_run(results, BASE, 0, 0.95, labels=LABELS, suite_published=ref)
    write_run(results, OTHER, 0, 0.97, labels=LABELS, suite_published=ref, plateaued=False)
    write_run(results, THIRD, 0, 0.5, labels=LABELS, suite_published=ref, status="failed")
    _, markdown = report(results, tmp_path)
    part = published_part(markdown)
    assert f"Left out of the verdict: {OTHER} (did not plateau); {THIRD} (no `ok` run)." in part
    assert "Fewer than two of its variants have a measured value here" in part  # only BASE is left


def test_a_source_that_gives_one_variant_has_no_ordering_to_judge():
    text = verdict_text({"a": 92.49}, {"a": seeds(98.0, 98.3, 97.9)}, BY_COLUMN["test_acc"])
    assert text == "The source gives one of these variants: its value beside the measured one, no ordering to judge."


def test_pairs_published_as_equal_are_not_tested():
    runs = {"a": seeds(95.0, 95.5, 94.5), "b": seeds(96.0, 96.2, 95.8), "c": seeds(90.0, 90.5, 89.5)}
    text = verdict_text({"a": 90.0, "b": 90.0, "c": 80.0}, runs, BY_COLUMN["test_acc"])
    assert "**Of 2 published pairs: 2 hold here, 0 fail, 0 the same here, 0 inconclusive**" in text
    assert "1 pair published as equal, not tested." in text
    flat = verdict_text({"a": 90.0, "b": 90.0}, runs, BY_COLUMN["test_acc"])
    assert "**No pair to check**" in flat


def test_a_measured_tie_at_the_shown_precision_reads_as_equal():
    text = verdict_text({"a": 90.0, "b": 80.0}, {"a": seeds(95.001), "b": seeds(94.999)}, BY_COLUMN["test_acc"])
    assert "Measured (mean over runs): a (95) = b (95)." in text


def test_pairs_shown_within_the_margin_are_the_same_and_the_ordering_does_not_show():
    """Three variants equal to within a few tenths of a point over five seeds, published far apart: no difference can
    be shown, and two one-sided t-tests (statsmodels) show each pair within ±1 point, adjusted as a family of their
    own (Benjamini–Hochberg): the source's gaps do not show here. A fourth variant far below holds its pairs."""
    from statsmodels.stats.weightstats import ttost_paired

    from bench.report.published import SAME_HERE, pair_verdicts

    runs = {"a": seeds(98.9, 99.4, 100.0, 98.9, 98.3), "b": seeds(98.3, 98.9, 100.0, 98.9, 98.9),
            "c": seeds(98.9, 99.4, 100.0, 99.4, 98.9)}
    published = {"c": 85.9, "b": 84.6, "a": 76.1}
    pairs, _ = pair_verdicts(published, runs, BY_COLUMN["test_acc"])
    raw = {(p.high, p.low): ttost_paired(np.array(list(runs[p.high].values())),
                                         np.array(list(runs[p.low].values())), -1.0, 1.0)[0] for p in pairs}
    adjusted = dict(zip(raw, stats.false_discovery_control(list(raw.values()), method="bh")))
    assert all(v < 0.05 for v in adjusted.values()) and all(p.word == SAME_HERE for p in pairs)
    text = verdict_text(published, runs, BY_COLUMN["test_acc"])
    assert "**The published ordering does not show here**: 3 of 3 pairs the same within ±1 pp, none reversed." in text
    assert "**Of 3 published pairs: 0 hold here, 0 fail, 3 the same here, 0 inconclusive**" in text
    assert "(two one-sided t-tests), adjusted as a family of their own" in text
    assert f"The same within ±1 pp: c vs b (adjusted p={adjusted[('c', 'b')]:.2g});" in text
    runs["d"] = seeds(90.1, 90.9, 91.3, 90.2, 90.8)
    mixed = verdict_text({**published, "d": 70.0}, runs, BY_COLUMN["test_acc"])
    assert ("**The published ordering does not show here**: 3 of 6 pairs the same within ±1 pp, the other 3 hold, "
            "none reversed.") in mixed
    steady = {"x": seeds(1.00, 1.02, 0.99, 1.01), "y": seeds(1.01, 1.00, 1.02, 0.99)}
    times = verdict_text({"x": 40.0, "y": 39.0}, steady, BY_COLUMN["epoch_time_s"])
    assert "pairs the same within ×1.1 either way" in times
