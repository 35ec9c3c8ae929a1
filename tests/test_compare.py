"""`bench compare BASE HEAD` on two results folders written here in the real parquet format: one variant planted
slower, one planted less accurate; every mark, interval and p-value checked against scipy on the planted values."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.weightstats import ttost_ind

from bench.store.paths import epochs_dir
from bench.store.schema import EpochRow
from bench.store.shards import write_shard
from tests.helpers import bench
from tests.test_experiments import BASE, OTHER, SUITE, write_run

SEEDS = (0, 1, 2)
EPOCHS = 16
IMAGES = 200


def epoch_times(mean: float, seed: int, salt: int) -> list[float]:
    return list(mean * (1 + 0.05 * np.random.default_rng(1000 * salt + seed).standard_normal(EPOCHS)))


def predictions(accuracy: float, seed: int, salt: int) -> list[tuple[int, int]]:
    """(label, predicted) for IMAGES test images (two classes), `accuracy` of them right, chosen by the seed."""
    rng = np.random.default_rng(7 * salt + seed)
    labels = np.arange(IMAGES) % 2
    right = np.zeros(IMAGES, bool)
    right[rng.choice(IMAGES, round(accuracy * IMAGES), replace=False)] = True
    return [(int(y), int(y if r else 1 - y)) for y, r in zip(labels, right)]


def write_side(folder, accuracy: dict[str, list[float]], time_s: dict[str, float], salt: int, dataset="digits",
               batch: int = 64, seeds: tuple[int, ...] = SEEDS, machine: float | None = None, mem_kind: str = "cpu_rss",
               channels_last: bool = False):
    for label in (BASE, OTHER):
        for seed, acc in zip(seeds, accuracy[label]):
            times = epoch_times(time_s[label], seed, salt + (label == OTHER))
            row = write_run(folder, label, seed, acc, dataset=dataset, batch=batch, plateaued=True,
                            epoch_time=float(np.median(times)),
                            predictions=predictions(acc, seed, salt + (label == OTHER)), host=f"host-{salt}",
                            test_images=IMAGES, machine_tflops=machine, latency_machine_tflops=machine,
                            mem_kind=mem_kind, channels_last=channels_last)
            write_shard([EpochRow(row.run_id, e, 1.0, 0.5, 1.0, acc, 0.1, t, 0.01, 64 / t)
                         for e, t in enumerate(times, 1)], epochs_dir(folder, SUITE), row.run_id)


BASE_ACC = {BASE: [0.90, 0.91, 0.92], OTHER: [0.93, 0.92, 0.94]}
HEAD_ACC = {BASE: [0.84, 0.86, 0.85], OTHER: [0.93, 0.93, 0.94]}  # BASE planted worse by about 6 points
BASE_TIME = {BASE: 1.0, OTHER: 2.0}
HEAD_TIME = {BASE: 1.0, OTHER: 3.0}  # OTHER planted 1.5× slower


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    write_side(root / "base", BASE_ACC, BASE_TIME, salt=1)
    write_side(root / "head", HEAD_ACC, HEAD_TIME, salt=3)
    write_side(root / "one-base", BASE_ACC, BASE_TIME, salt=1, seeds=(0,))  # the same plants, one seed a side
    write_side(root / "one-head", HEAD_ACC, HEAD_TIME, salt=3, seeds=(0,))
    write_side(root / "cifar", HEAD_ACC, HEAD_TIME, salt=5, dataset="cifar10")
    write_side(root / "recipes", BASE_ACC, BASE_TIME, salt=1, batch=32)  # base's runs at batch 32, head's at 64
    write_side(root / "recipes", HEAD_ACC, HEAD_TIME, salt=3, batch=64)
    for name, machine in (("steady", 0.41), ("drifted", 0.46)):  # speed probes, TFLOP/s
        write_side(root / name, HEAD_ACC, HEAD_TIME, salt=3, machine=machine)
    write_side(root / "probed-base", BASE_ACC, BASE_TIME, salt=1, machine=0.40)
    write_side(root / "training-memory", HEAD_ACC, HEAD_TIME, salt=3, mem_kind="cpu_training_rss")
    write_side(root / "channels-last", HEAD_ACC, HEAD_TIME, salt=3, channels_last=True)
    return root


def changes(folder_a, folder_b, *extra) -> tuple[list[dict], object]:
    done = bench("compare", str(folder_a), str(folder_b), "--format", "json", *extra)
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout)["changes"], done


def one(found: list[dict], variant: str, metric: str) -> dict:
    (change,) = [c for c in found if c["variant"] == variant and c["metric"] == metric]
    return change


def family(found: list[dict]) -> dict[tuple[str, str], float]:
    """Each test of one comparison once (images/s is read from the epoch-time test), raw p by (variant, measure)."""
    return {(c["variant"], c["metric"]): c["p"] for c in found if c["p"] is not None and c["metric"] != "throughput"}


def test_the_planted_worse_accuracy_is_marked_with_scipys_interval_and_family(folders):
    found, done = changes(folders / "base", folders / "head")
    acc = one(found, BASE, "accuracy")
    d = 100 * (np.array(HEAD_ACC[BASE]) - np.array(BASE_ACC[BASE]))  # paired by seed, by hand
    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert acc["mark"] == "worse" and acc["symbol"] == "+"
    assert acc["change"] == pytest.approx(d.mean()) and (acc["low"], acc["high"]) == (pytest.approx(low),
                                                                                        pytest.approx(high))
    assert acc["p"] == pytest.approx(stats.ttest_rel(HEAD_ACC[BASE], BASE_ACC[BASE]).pvalue)
    assert acc["p_better"] == 0 and acc["runs"] == [3, 3]  # every seed worse after
    # the family: every raw p of the comparison adjusted together, as scipy's Benjamini–Hochberg does it
    tests = family(found)
    adjusted = dict(zip(tests, stats.false_discovery_control(list(tests.values()), method="bh")))
    assert all(c["p_adjusted"] == pytest.approx(adjusted[(c["variant"], c["metric"])])
               for c in found if (c["variant"], c["metric"]) in adjusted)
    assert json.loads(done.stdout)["tests"] == len(tests)
    assert one(found, OTHER, "accuracy")["mark"] == "inconclusive"  # +0.33 pp over three seeds: cannot tell
    assert "about these trained models only, McNemar p=" in acc["evidence"]
    assert f"{IMAGES} test images × 3 seed(s)" in acc["evidence"]


def test_the_planted_slower_variant_is_worse_by_ratio_and_welch_test_on_per_run_medians(folders):
    found, _ = changes(folders / "base", folders / "head")
    slow = one(found, OTHER, "time")
    base_t = [np.median(epoch_times(BASE_TIME[OTHER], s, 2)) for s in SEEDS]  # one number per run
    head_t = [np.median(epoch_times(HEAD_TIME[OTHER], s, 4)) for s in SEEDS]
    assert slow["change"] == pytest.approx(np.median(head_t) / np.median(base_t))
    welch = stats.ttest_ind(np.log(head_t), np.log(base_t), equal_var=False)
    assert slow["p"] == pytest.approx(welch.pvalue) and slow["runs"] == [3, 3]
    ci = welch.confidence_interval(0.95)
    assert (slow["low"], slow["high"]) == (pytest.approx(np.exp(ci.low)), pytest.approx(np.exp(ci.high)))
    assert slow["mark"] == "worse"
    assert one(found, OTHER, "throughput")["mark"] == "worse"  # fewer images/s: the same test, the same mark
    same = one(found, BASE, "time")  # the same 1.0 s, other noise: shown within the factor (statsmodels' TOST)
    base_s = [np.median(epoch_times(BASE_TIME[BASE], s, 1)) for s in SEEDS]  # BASE: the side's salt as is
    head_s = [np.median(epoch_times(HEAD_TIME[BASE], s, 3)) for s in SEEDS]
    tost = ttost_ind(head_s, base_s, 1 / 1.1, 1.1, usevar="unequal", transform=np.log)[0]
    assert same["p_within"] == pytest.approx(tost) and same["p_within_adjusted"] < 0.05 and same["mark"] == "same"
    assert abs(same["change"] - 1) < 0.1 and "the same: within ×1.1 either way by two one-sided t-tests" in \
        same["evidence"]
    assert one(found, BASE, "macs")["mark"] == "same"


def test_a_machine_that_ran_at_another_speed_decides_no_time_or_latency(folders):
    """The same planted runs, the head's machine probed ×1.15 faster (past MACHINE_DRIFT, 1.05): its times and
    latencies are inconclusive and say why; accuracy, memory and counts are decided as before. Within ×1.05
    (0.41 against 0.40), the 1.5× slower variant is worse as without probes."""
    drifted, _ = changes(folders / "probed-base", folders / "drifted")
    for metric in ("time", "throughput", "latency_b1", "latency_bN"):
        c = one(drifted, OTHER, metric)
        assert c["mark"] == "inconclusive" and c["p"] is None, c
        assert "the machine itself ran ×1.15 as fast for head as for base" in c["evidence"], c["evidence"]
        assert "time both sides in one session" in c["evidence"]
    assert one(drifted, BASE, "accuracy")["mark"] == "worse" and one(drifted, OTHER, "macs")["mark"] == "same"
    assert one(drifted, OTHER, "memory")["p"] is not None  # memory does not depend on the machine's speed
    steady, _ = changes(folders / "probed-base", folders / "steady")
    assert one(steady, OTHER, "time")["mark"] == one(steady, OTHER, "throughput")["mark"] == "worse"
    plain, _ = changes(folders / "base", folders / "head")  # no probes at all: decided on the runs alone
    assert one(plain, OTHER, "time")["p"] == pytest.approx(one(steady, OTHER, "time")["p"])


def test_memory_of_another_kind_is_not_compared(folders):
    """A process's whole resident set (rows made before the training's own peak was measured) against the training's
    own: memory is not comparable and says why; the rest is decided as before."""
    found, _ = changes(folders / "base", folders / "training-memory")
    for label in (BASE, OTHER):
        memory = one(found, label, "memory")
        assert memory["mark"] == "not comparable" and memory["p"] is None
        assert memory["evidence"] == "other mem_kind: base cpu_rss, head cpu_training_rss"
    assert one(found, OTHER, "time")["mark"] == "worse" and one(found, BASE, "accuracy")["mark"] == "worse"
    same, _ = changes(folders / "base", folders / "head")  # both cpu_rss: memory is tested
    assert one(same, OTHER, "memory")["p"] is not None


def test_sides_trained_in_other_memory_formats_decide_no_time(folders):
    """The probe chose NCHW for base and channels_last for head: their times measure the formats as much as the
    change, so time, images/s and latency are not decided and say why; accuracy and memory are decided as before."""
    found, _ = changes(folders / "base", folders / "channels-last")
    for metric in ("time", "throughput", "latency_b1", "latency_bN"):
        c = one(found, OTHER, metric)
        assert c["mark"] == "inconclusive" and c["p"] is None, c
        assert c["evidence"].startswith("not decided: base trained in contiguous (NCHW), head in channels_last"), c
    assert one(found, BASE, "accuracy")["mark"] == "worse" and one(found, OTHER, "memory")["p"] is not None


def test_one_seed_a_side_is_inconclusive_and_says_how_many_seeds_would_tell(folders):
    found, _ = changes(folders / "one-base", folders / "one-head")
    acc, slow = one(found, BASE, "accuracy"), one(found, OTHER, "time")
    assert acc["mark"] == slow["mark"] == "inconclusive" and acc["p"] is None and slow["p"] is None
    assert re.search(r"one seed a side.*about \d+ seeds a side needed", acc["evidence"]), acc["evidence"]
    assert re.search(r"1 run a side \(a test needs 3\); about \d+ runs a side needed", slow["evidence"]), \
        slow["evidence"]
    assert "McNemar p=" in acc["evidence"]  # still shown, as evidence about the two trained models


def test_a_ratio_within_the_factor_is_not_marked_however_significant_and_reads_the_same(folders):
    found, _ = changes(folders / "base", folders / "head", "--factor", "1.6")  # 1.5× is under a 1.6 factor
    slow = one(found, OTHER, "time")
    assert slow["mark"] == "same" and slow["p_adjusted"] < 0.05 and "within ×1.6 either way" in slow["evidence"]


def test_another_data_set_is_not_comparable_and_says_why(folders):
    found, _ = changes(folders / "base", folders / "cifar")
    assert {c["mark"] for c in found} == {"not comparable"}
    assert all("data.kind: digits → cifar10" in c["evidence"] for c in found)


def test_fail_if_exits_1_naming_what_got_worse_and_0_within_the_limits(folders):
    _, done = changes(folders / "base", folders / "head", "--fail-if", "worse:accuracy=0.5")
    assert done.returncode == 1 and f"bench compare: worse: {BASE} " in done.stderr and "test acc" in done.stderr
    _, done = changes(folders / "base", folders / "head", "--fail-if", "worse:time=1.1")
    assert done.returncode == 1 and f"worse: {OTHER} " in done.stderr
    assert re.search(r"epoch time \(s\) ×1\.[45]\d\d, past ×1\.1 \(Welch t on log per-run values", done.stderr), \
        done.stderr
    _, done = changes(folders / "base", folders / "head", "--fail-if", "worse:time=2,accuracy=10")
    assert done.returncode == 0, done.stderr
    bad = bench("compare", str(folders / "base"), str(folders / "head"), "--fail-if", "worse:speed=2")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "'speed=2'" in bad.stderr


def test_the_markdown_shows_marks_and_both_sides(folders):
    done = bench("compare", str(folders / "base"), str(folders / "head"))
    assert done.returncode == 0, done.stderr
    assert "host-1" in done.stdout and "host-3" in done.stdout
    assert f"| + | {OTHER} | epoch time (s) |" in done.stdout and f"| + | {BASE} | test acc (%) |" in done.stdout
    missing = bench("compare", str(folders / "nowhere"), str(folders / "head"))
    assert missing.returncode == 2 and "no results under" in missing.stderr


def versioned(folder, seed: int, acc: float, code: str, lr: float, sha: str, minute: int):
    """A BASE run whose identity names its harness code and learning rate, made at a chosen minute."""
    from bench.store.identity import config_hash, experiment_hash
    from tests.test_experiments import identity

    ident = identity(BASE, seed, "digits", 64)
    ident["code"] = {"bench/train/loop.py": code, "bench/data/base.py": "d1"}
    ident["recipe"]["lr"] = lr
    return write_run(folder, BASE, seed, acc, plateaued=True, identity=json.dumps(ident), config_hash=config_hash(ident),
                     experiment_hash=experiment_hash(ident), git_sha=sha,
                     started_at=f"2026-11-02T10:{minute:02d}:00+00:00", finished_at=f"2026-11-02T10:{minute:02d}:30+00:00")


def test_history_sets_every_identity_side_by_side_in_time_order(tmp_path):
    from bench.core.hashing import digest

    versioned(tmp_path, 0, 0.90, "a1", 0.05, "sha1", 1)
    versioned(tmp_path, 1, 0.92, "a1", 0.05, "sha1", 2)
    versioned(tmp_path, 0, 0.95, "b2", 0.05, "sha2", 5)  # the training loop edited
    versioned(tmp_path, 1, 0.94, "b2", 0.05, "sha2", 6)
    versioned(tmp_path, 0, 0.96, "b2", 0.1, "sha3", 9)  # then the learning rate
    done = bench("compare", str(tmp_path), "--history", BASE, "--format", "json")
    assert done.returncode == 0, done.stderr
    (versions,) = json.loads(done.stdout).values()
    assert [v["git_sha"] for v in versions] == ["sha1", "sha2", "sha3"]
    assert [v["runs"] for v in versions] == [2, 2, 1] and versions[0]["test_acc"] == "91.00 ± 1.41"
    assert versions[1]["changed"] == ["code: bench/train/loop.py"]
    assert versions[2]["changed"] == ["recipe.lr: 0.05 → 0.1"]
    a1 = digest({"bench/train/loop.py": "a1", "bench/data/base.py": "d1"})[:12]
    assert versions[0]["code"] == a1
    # one folder, two code digests side by side (DIR@REV): the same experiment, other code, so comparable
    found, _ = changes(f"{tmp_path}@{a1[:8]}", f"{tmp_path}@sha2")
    acc = one(found, BASE, "accuracy")
    assert acc["base"] == pytest.approx(91.0) and acc["head"] == pytest.approx(94.5)
    assert acc["low"] is not None and "paired t over 2 seeds" in acc["evidence"]
    two = bench("compare", str(tmp_path), str(tmp_path), "--history", BASE)
    assert two.returncode == 2 and "--history reads one results folder" in two.stderr


def test_several_folders_per_side_read_as_one_with_a_copied_run_counted_once(folders, tmp_path):
    import shutil

    for part, seeds in (("a", ("-s0-", "-s1-")), ("b", ("-s2-", "-s0-"))):  # seed 0's shards in both folders
        for shard in (folders / "base").rglob("*.parquet"):
            if any(s in shard.name for s in seeds):
                target = tmp_path / part / shard.relative_to(folders / "base")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(shard, target)
    whole, _ = changes(folders / "base", folders / "head")
    split, done = changes(f"{tmp_path / 'a'},{tmp_path / 'b'}", folders / "head")
    for metric in ("accuracy", "time"):
        for variant in (BASE, OTHER):
            a, b = one(whole, variant, metric), one(split, variant, metric)
            assert (b["mark"], b["change"], b["low"], b["p"]) == (a["mark"], a["change"], a["low"], a["p"])
    assert "paired t over 3 seeds" in one(split, BASE, "accuracy")["evidence"]  # seed 0 once, not twice
    missing = bench("compare", f"{tmp_path / 'a'},{tmp_path / 'nowhere'}", str(folders / "head"))
    assert missing.returncode == 2 and f"no results under '{tmp_path / 'nowhere'}'" in missing.stderr


def test_two_recipes_of_one_folder_compare_across_the_fields_set_apart(folders):
    whole, _ = changes(folders / "base", folders / "head")
    done = bench("compare", str(folders / "recipes"), "--base-set", "batch_size=32", "--head-set", "batch_size=64",
                 "--format", "json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert (found["base"]["name"], found["head"]["name"]) == (f"{folders / 'recipes'} (batch_size=32)",
                                              f"{folders / 'recipes'} (batch_size=64)")
    acc, planted = one(found["changes"], BASE, "accuracy"), one(whole, BASE, "accuracy")
    assert (acc["mark"], acc["change"], acc["low"]) == ("worse", planted["change"], planted["low"])
    assert one(found["changes"], OTHER, "time")["mark"] == "worse"
    assert "digits, batch 32 → 64, cpu" in acc["experiment"]
    together = json.loads(bench("compare", str(folders / "recipes"), str(folders / "recipes"), "--format",
                                "json").stdout)["changes"]  # not set apart: each recipe paired with itself
    same = [c for c in together if c["metric"] == "accuracy"]
    assert len(same) == 4 and {(c["change"], c["mark"]) for c in same} == {(0, "same")}  # every seed's Δ is 0
    bad = bench("compare", str(folders / "recipes"), "--base-set", "batch=32")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "batch=32" in bad.stderr
    none = bench("compare", str(folders / "recipes"), "--base-set", "batch_size=128")
    assert none.returncode == 2 and "with batch_size=128" in none.stderr
