"""Tuning (`bench run --tune`): each variant's value chosen on validation accuracy only, the test split never read by
a trial, the chosen runs made with the suite's seeds; an interrupted tuning resumes without losing or repeating a
trial; a new grid value runs only its trials. Everything is checked from the parquet files read directly (pyarrow and
pandas, not bench's reader), on handwritten digits written by the test in MNIST's IDX format."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import ONE_FORMAT, ONE_LATENCY_PROCESS, bench, running, worker_children
from tests.test_idx import idx_bytes
from tests.test_html import browser  # noqa: F401 (the headless chromium fixture)

VARIANTS = "resnet18,resnet32"  # cheap at 32 px: 37 and 17 million MACs
GRID = "lr=0.02,0.2"
SHUFFLED_VARIANT = "resnet32"  # the tuning again with shuffled test labels: one variant tells whether trials saw them


def write_digits(folder: Path, shuffle_test_labels: bool = False) -> None:
    """scikit-learn's 1,797 handwritten digits as an MNIST-style IDX set: 8×8 images scaled ×3 and padded to 28×28,
    the first 1,200 as the training split, the rest as the test split (its labels shuffled when asked)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.pad(np.kron(digits.images, np.ones((3, 3))) * (255 / 16), ((0, 0), (2, 2), (2, 2))).astype(np.uint8)
    labels = digits.target.astype(np.uint8)
    test_labels = labels[1200:].copy()
    if shuffle_test_labels:
        np.random.default_rng(1).shuffle(test_labels)
    folder.mkdir(parents=True)
    for name, array in (("train-images-idx3-ubyte", images[:1200]), ("train-labels-idx1-ubyte", labels[:1200]),
                        ("t10k-images-idx3-ubyte", images[1200:]), ("t10k-labels-idx1-ubyte", test_labels)):
        (folder / name).write_bytes(idx_bytes(array))


def tune(results: Path, data: Path, seeds: int, variants: str = VARIANTS) -> subprocess.CompletedProcess:
    return bench("run", "--suite", "stem-ablation", "--variants", variants, "--dataset", "mnist", "--data-root",
                 str(data), "--epochs", "2", "--set", "train_limit=240", "--seeds", str(seeds), "--tune", GRID,
                 *ONE_FORMAT, *ONE_LATENCY_PROCESS, "--device", "cpu", "--results", str(results))  # latency: a
    # chosen run times it, a trial does not


def rows(results: Path) -> pd.DataFrame:
    runs = pd.read_parquet(results / "stem-ablation" / "runs")
    runs["lr"] = [json.loads(r)["lr"] for r in runs["recipe"]]
    return runs


def chosen_by_hand(trials: pd.DataFrame) -> dict[str, float]:
    """Per variant, the lr whose trials' mean best validation accuracy is highest (ties: the smaller lr)."""
    means = trials.groupby(["label", "lr"])["best_val_acc"].mean().reset_index().sort_values(["label", "lr"])
    return {label: float(mine.loc[mine["best_val_acc"].idxmax(), "lr"]) for label, mine in means.groupby("label")}


@pytest.mark.slow
def test_a_tuning_on_digits(tmp_path, request):
    """One test, so that `pytest -n 2` trains the tunings once: the same tuning on the digits and on the digits with
    shuffled test labels (the same training images), then every check of what it wrote."""
    tuned = made(tmp_path / "tuning")
    each_variant_runs_the_arg_max_of_its_trials_validation_with_the_suites_seeds(tuned)
    the_choice_is_the_same_when_the_test_labels_are_shuffled(tuned)
    the_report_shows_the_trials_the_choice_and_tuned_beside_shared(tuned, tmp_path / "markdown")
    browser = request.getfixturevalue("browser")  # last: without chromium, only this check is skipped
    the_sensitivity_plot_renders_in_a_real_browser_with_each_choice_marked(tuned, tmp_path / "html", browser)


def made(root: Path) -> tuple[Path, subprocess.CompletedProcess]:
    write_digits(root / "digits" / "MNIST" / "raw")
    write_digits(root / "shuffled" / "MNIST" / "raw", shuffle_test_labels=True)
    first = tune(root / "results", root / "digits", seeds=2)
    assert first.returncode == 0, first.stderr
    second = tune(root / "results-shuffled", root / "shuffled", seeds=1, variants=SHUFFLED_VARIANT)
    assert second.returncode == 0, second.stderr
    return root, first


def each_variant_runs_the_arg_max_of_its_trials_validation_with_the_suites_seeds(tuned):
    root, result = tuned
    runs = rows(root / "results")
    assert set(runs["status"]) == {"ok"}
    trials, normal = runs[runs["role"] == "trial"], runs[runs["role"] == "run"]
    assert len(trials) == 2 * 2 and len(normal) == 2 * 2  # 2 variants × 2 grid values; 2 variants × 2 seeds
    assert trials["test_acc"].isna().all() and trials["confusion"].map(len).eq(0).all()  # trials read no test split
    predicted = {p.stem for p in (root / "results" / "stem-ablation" / "predictions").glob("*.parquet")}
    assert predicted == set(normal["run_id"])  # only the chosen runs scored test images
    assert trials["latency_ms_b1"].isna().all() and normal["latency_ms_b1"].notna().all()
    chosen = chosen_by_hand(trials)
    for label, lr in chosen.items():
        mine = normal[normal["label"] == label]
        assert set(mine["lr"]) == {lr} and sorted(mine["seed"]) == [0, 1] and mine["test_acc"].notna().all(), label
    assert "tuning:" in result.stderr and "*lr=" in result.stderr
    # bench compare --tuned: the shared recipe (lr 0.05) never ran here, and it says how to add it
    compared = bench("compare", str(root / "results"), "--tuned")
    assert compared.returncode == 2 and "under the shared recipe its tuning is compared with" in compared.stderr


def the_choice_is_the_same_when_the_test_labels_are_shuffled(tuned):
    root, _ = tuned
    original, shuffled = rows(root / "results"), rows(root / "results-shuffled")
    original = original[original["label"] == SHUFFLED_VARIANT]
    trial = lambda runs: runs[runs["role"] == "trial"].set_index(["label", "lr"])["best_val_acc"].sort_index()  # noqa: E731
    pd.testing.assert_series_equal(trial(original), trial(shuffled))  # the trials never saw the test labels
    assert chosen_by_hand(original[original["role"] == "trial"]) == chosen_by_hand(shuffled[shuffled["role"] == "trial"])
    ran = lambda runs: dict(runs[runs["role"] == "run"].groupby("label")["lr"].first())  # noqa: E731
    assert ran(original) == ran(shuffled)
    # ... while the test accuracy of the same chosen model did see them: near chance with shuffled labels
    assert shuffled.loc[shuffled["role"] == "run", "test_acc"].max() < 0.3


def the_report_shows_the_trials_the_choice_and_tuned_beside_shared(tuned, tmp_path):
    root, _ = tuned
    result = bench("report", "--suite", "stem-ablation", "--results", str(root / "results"), "--out", str(tmp_path),
                   "--format", "both")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "stem-ablation.md").read_text()
    section = text[text.index("## stem-ablation — tuning of lr"):]
    trials = rows(root / "results")
    chosen = chosen_by_hand(trials[trials["role"] == "trial"])
    for label, lr in chosen.items():
        line = next(l for l in section.splitlines() if l.startswith(f"| {label} |"))
        assert f"| lr={lr:g} |" in line and "| 2/2 |" in line, line
        best = trials[(trials["role"] == "trial") & (trials["label"] == label) & (trials["lr"] == lr)]["best_val_acc"]
        assert f"**{100 * best.mean():.2f}**" in line, line
    assert "Every variant had the same budget: 2 finished trials (2 grid points × 1 seed)" in section
    assert "![Validation accuracy against lr](stem-ablation/tuning-lr-" in section
    assert (tmp_path / section.split("](", 1)[1].split(")", 1)[0]).is_file()
    assert "### Tuned: each variant at its chosen values" in section and "### Shared recipe" in section
    # trials are not an experiment of their own: no section shows a run without test accuracy
    assert "trial" not in text[:text.index("## stem-ablation — tuning of lr")].lower()


@pytest.mark.slow
def test_an_interrupted_tuning_resumes_without_losing_or_repeating_a_trial(tmp_path):
    """Ctrl-C while the second trial trains; the same command finishes the rest, running no finished trial again;
    a third grid value then runs only its own trial."""
    command = ("run", "--suite", "shortcut", "--variants", "plain32", "--dataset", "fake", "--epochs", "2",
               "--tune", "lr=0.05,0.1", "--device", "cpu", "--results", str(tmp_path))
    runs_dir = tmp_path / "shortcut" / "runs"
    with running(*command) as proc:
        deadline, first = time.time() + 300, None
        while time.time() < deadline and proc.poll() is None:
            workers = worker_children(proc.pid)
            first = first or (workers[0] if workers else None)
            finished = list(runs_dir.glob("*.parquet"))
            if finished and first is not None and any(w != first for w in workers):
                break  # the first trial wrote its row and the second one's worker is running
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130 and "Traceback" not in err, err
    stopped = pd.read_parquet(runs_dir)
    assert sorted(stopped["status"]) == ["interrupted", "ok"] and set(stopped["role"]) == {"trial"}
    done = stopped.loc[stopped["status"] == "ok", "config_hash"].iloc[0]

    again = bench(*command)
    assert again.returncode == 0, again.stderr
    assert "trial plain32 lr=0.05 seed 0: skip" in again.stderr
    runs = pd.read_parquet(runs_dir)
    ok_trials = runs[(runs["role"] == "trial") & (runs["status"] == "ok")]
    assert len(ok_trials) == 2 and ok_trials["config_hash"].is_unique and done in set(ok_trials["config_hash"])
    assert ((runs["role"] == "run") & (runs["status"] == "ok")).sum() == 1

    wider = bench(*command[:-6], "--tune", "lr=0.05,0.1,0.2", *command[-4:])
    assert wider.returncode == 0, wider.stderr
    after = pd.read_parquet(runs_dir)
    new = after[~after["run_id"].isin(runs["run_id"])]
    assert list(new["role"]).count("trial") == 1 and json.loads(new[new["role"] == "trial"]["recipe"].iloc[0])["lr"] == 0.2
    assert wider.stderr.count(": skip (done at") >= 2  # the two finished trials


@pytest.mark.parametrize("args, message", [
    (["--tune", "lr=0.1"], "gives one value: nothing to choose between"),
    (["--tune", "momentun=0.8,0.9"], "no recipe field 'momentun' (did you mean momentum?)"),
    (["--tune", "lr=0.1,-1"], "'-1' is not allowed for lr"),
    (["--tune", "lr=0.1,0.2", "--tune", "lr=0.3,0.4"], "names lr more than once"),
    (["--tune", "lr=0.1,0.2", "--set", "lr=0.3"], "lr is both tuned (--tune) and set"),
    (["--tune-seeds", "2"], "--tune-seeds needs --tune"),
    (["--tune", "lr"], "write KEY=V1,V2,..."),
])
def test_a_bad_grid_is_one_line_naming_it(tmp_path, args, message):
    result = bench("run", "--suite", "shortcut", "--dataset", "fake", *args, "--results", str(tmp_path))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_a_suite_files_tune_table_is_read_checked_and_written_back(tmp_path):
    from bench.config.suitefile import dump_suite, load_suite
    from bench.core.errors import UsageError

    path = tmp_path / "s.toml"
    path.write_text('[tune]\nlr = [0.05, 0.1]\nweight_decay = [0, 5e-4]\nseeds = 2\n[[entries]]\nvariant = "plain32"\n')
    suite = load_suite(path)
    assert suite.tune == (("lr", (0.05, 0.1)), ("weight_decay", (0.0, 5e-4))) and suite.tune_seeds == 2
    path.write_text(dump_suite(suite))
    assert load_suite(path) == suite
    path.write_text('[tune]\nlr = 0.1\n[[entries]]\nvariant = "plain32"\n')
    with pytest.raises(UsageError, match=r"lr = 0.1 must be a list of values"):
        load_suite(path)


def test_a_suite_files_tune_table_plans_trials_over_its_grid(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text('[recipe]\nepochs = 1\n[tune]\nlr = [0.05, 0.1]\nweight_decay = [0, 5e-4]\n'
                    '[[entries]]\nvariant = "plain32"\n[[entries]]\nvariant = "resnet32"\n')
    result = bench("run", "--suite", str(path), "--dataset", "fake", "--dry-run", "--results", str(tmp_path / "r"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sum(" trial " in line for line in lines) == 2 * 2 * 2  # 2 variants × 2 lr × 2 weight decays
    assert "trial resnet32 lr=0.1, weight_decay=0.0005 seed 0: run" in result.stdout
    assert lines[-1].startswith("then each variant at the values its trials chose")


def the_sensitivity_plot_renders_in_a_real_browser_with_each_choice_marked(tuned, tmp_path, browser):
    root, _ = tuned
    assert bench("report", "--suite", "stem-ablation", "--results", str(root / "results"), "--out", str(tmp_path),
                 "--format", "html").returncode == 0
    browser.get((tmp_path / "stem-ablation.html").as_uri())
    tips = browser.execute_script(
        "return Array.from(document.querySelectorAll('figure.plot svg')).filter(s => s.getBoundingClientRect().width"
        " > 0).flatMap(s => Array.from(s.querySelectorAll('g.tip > title')).map(t => t.textContent))")
    trials = rows(root / "results")
    for label, lr in chosen_by_hand(trials[trials["role"] == "trial"]).items():
        assert any(t.startswith(f"{label}: chosen lr={lr:g}") for t in tips), (label, tips)
