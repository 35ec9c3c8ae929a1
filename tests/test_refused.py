"""Values no run can use are refused before anything trains, in one line naming the bad thing: a recipe field out of
its domain (nan and infinities included), too many seeds, and a model that cannot be trained (its factory raises, it
has nothing to train, or its output is not one score per class). Each case is a real `bench run` child process."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.config.suite import MAX_SEEDS
from tests.helpers import bench, write_image_folder

RUN = ["run", "--suite", "shortcut", "--variants", "plain32", "--epochs", "1", "--device", "cpu", "--dataset", "digits"]


def with_variant(name: str) -> list[str]:
    return [*RUN[:4], name, *RUN[5:]]


def suite_file(tmp: Path, text: str) -> list[str]:
    (tmp / "mine.toml").write_text(text + '\n[[entries]]\nvariant = "plain32"\n')
    return ["run", "--suite", str(tmp / "mine.toml"), "--epochs", "1", "--device", "cpu"]


# (id, arguments of `bench run` from the test's folder, what the one line says)
CASES = [
    *[(f"set-{s}", lambda t, s=s: [*RUN, "--set", s], f"'{s.split('=')[1]}' is not allowed for {s.split('=')[0]}")
      for s in ("lr=nan", "lr=inf", "lr=-inf", "lr=-1", "lr=0", "momentum=-0.1", "momentum=nan", "momentum=1",
                "weight_decay=-1", "weight_decay=nan", "val_fraction=0", "val_fraction=1", "val_fraction=nan",
                "label_smoothing=inf", "warmup_epochs=nan", "epochs=0", "batch_size=0", "batch_size=-3",
                "warmup_max_fraction=nan", "train_limit=-1", "input_size=0")],
    ("tune-nan", lambda t: [*RUN, "--tune", "lr=0.1,nan"], "'nan' is not allowed for lr"),
    ("suite-file-lr-nan", lambda t: suite_file(t, "[recipe]\nlr = nan"), "'nan' is not allowed for lr"),
    ("suite-file-momentum-inf", lambda t: suite_file(t, "[recipe]\nmomentum = inf"),
     "'inf' is not allowed for momentum"),
    ("seeds-past-the-bound", lambda t: [*RUN, "--seeds", str(MAX_SEEDS + 1)],
     f"--seeds: {MAX_SEEDS + 1} is too large: it must be at most {MAX_SEEDS:,}"),
    ("seeds-10^8", lambda t: [*RUN, "--seeds", "100000000"], "--seeds: 100000000 is too large"),
    ("tune-seeds-past-the-bound", lambda t: [*RUN, "--tune", "lr=0.1,0.2", "--tune-seeds", str(MAX_SEEDS + 1)],
     "--tune-seeds: 10001 is too large"),
    ("suite-file-seeds-past-the-bound", lambda t: suite_file(t, f"seeds = {MAX_SEEDS + 1}"),
     f"seeds = {MAX_SEEDS + 1} must be from 1 to {MAX_SEEDS:,}"),
    ("suite-file-tune-seeds-past-the-bound", lambda t: suite_file(t, f"[tune]\nlr = [0.1]\nseeds = {MAX_SEEDS + 1}"),
     f"[tune]: seeds = {MAX_SEEDS + 1} must be from 1"),
    # digits has 10 classes; wrong_width's classifier has 3 more outputs (tests/bad_models.py)
    ("output-width", lambda t: with_variant("tests.bad_models:wrong_width"),
     "variant 'tests.bad_models:wrong_width' gives 13 outputs per image, but digits has 10 classes"),
    # write_image_folder's three classes: the width is checked against the data's class count, not a fixed 10
    ("output-width-three-classes", lambda t: [*with_variant("tests.bad_models:always_ten"), "--dataset",
                                              f"imagefolder:{t / 'data'}", "--batch-size", "4"],
     "variant 'tests.bad_models:always_ten' gives 10 outputs per image, but imagefolder:"),
    ("factory-raises", lambda t: with_variant("tests.bad_models:raises"),
     "variant 'tests.bad_models:raises' cannot be built: its factory raised RuntimeError: the kernel size does not "
     "fit"),
    ("no-parameters", lambda t: with_variant("tests.bad_models:no_parameters"),
     "variant 'tests.bad_models:no_parameters' has no parameters"),
    ("all-frozen", lambda t: with_variant("tests.bad_models:frozen"),
     "variant 'tests.bad_models:frozen' has no trainable parameter"),
]


# A dry run refuses them too: the models' checks, and the seed count that allocated 17.7 GB in a dry run.
DRY_RUN = [c for c in CASES if c[0].startswith(("output", "factory", "no-param", "all-frozen", "seeds-10"))]


@pytest.mark.parametrize("name, setup, fragment, dry_run", [(*c, False) for c in CASES] + [(*c, True) for c in DRY_RUN],
                         ids=[c[0] for c in CASES] + [f"dry-run-{c[0]}" for c in DRY_RUN])
def test_refused_before_training_in_one_line(name, setup, fragment, dry_run, tmp_path):
    results = tmp_path / "results"
    write_image_folder(tmp_path / "data")
    result = bench(*setup(tmp_path), "--results", str(results), *(["--dry-run"] if dry_run else []),
                   env={"BENCH_OFFLINE": "1", "BENCH_CACHE_DIR": str(tmp_path / "cache")}, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("bench") and fragment in line, line
    assert not list(results.rglob("*.parquet"))  # no run row, no epoch: nothing trained
