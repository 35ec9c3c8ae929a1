"""Bring your own: suite files, --set, outside models (a module, an entry point, timm) and weights that bring their
own preprocessing. Real TOML files, real child processes, real parquet."""
from __future__ import annotations

import json
import os

import pytest
import torch

from bench.config.recipe import FIELDS
from bench.store.shards import load_runs
from bench.config.suitefile import load_suite
from bench.config.builtin import SUITES
from bench.config.lookup import get_suite
from tests.helpers import bench
from tests.test_report import parse_table

DEPTH_STUDY = """\
description = "ResNet-18/34/50 with StepLR (÷10 at 50% and 75%) and early stopping"
dataset = "digits"
seeds = 3

[recipe]
epochs = 30
schedule = "step"
patience = 3
val_fraction = 0.2
zero_init_residual = true

[[entries]]
variant = "resnet18"
[[entries]]
variant = "resnet34"
[[entries]]
variant = "resnet50"
"""


@pytest.mark.parametrize("name", list(SUITES))
def test_show_round_trips_every_built_in_suite(name, tmp_path):
    shown = bench("suites", "--show", name)
    assert shown.returncode == 0, shown.stderr
    path = tmp_path / f"{name}.toml"
    path.write_text(shown.stdout)
    assert load_suite(path) == SUITES[name]
    assert all(f"\n{field} = " in shown.stdout or f"\n# {field} = " in shown.stdout for field in FIELDS)


@pytest.mark.slow
def test_a_depth_study_file_plans_its_recipe_and_runs_on_digits(tmp_path):
    path = tmp_path / "resnet-depth.toml"
    path.write_text(DEPTH_STUDY)
    suite = get_suite(str(path))
    assert suite.name == "resnet-depth" and suite.seeds == 3 and [e.variant for e in suite.entries] == [
        "resnet18", "resnet34", "resnet50"]
    assert (suite.recipe.schedule, suite.recipe.patience, suite.recipe.epochs) == ("step", 3, 30)
    plan = bench("run", "--suite", str(path), "--device", "cpu", "--results", str(tmp_path / "r"), "--dry-run")
    assert plan.returncode == 0 and len(plan.stdout.splitlines()) == 9, plan.stderr  # 3 variants × 3 seeds
    run = bench("run", "--suite", str(path), "--variants", "resnet18", "--seeds", "1", "--epochs", "2", "--device",
                "cpu", "--results", str(tmp_path / "r"))
    assert run.returncode == 0, run.stderr
    (row,) = load_runs(tmp_path / "r", "resnet-depth").to_dict("records")
    recipe = json.loads(row["recipe"])
    assert (row["suite"], row["dataset"], recipe["schedule"], recipe["patience"]) == ("resnet-depth", "digits", "step", 3)
    assert row["status"] == "ok" and row["epochs_run"] == 2


@pytest.mark.slow
def test_set_reaches_the_rows_and_the_hash(tmp_path):
    common = ["run", "--suite", "shortcut", "--variants", "plain32", "--dataset", "fake", "--epochs", "1",
              "--batch-size", "32", "--device", "cpu", "--results", str(tmp_path)]
    plain = bench(*common)
    assert plain.returncode == 0, plain.stderr
    changed = bench(*common, "--set", "input_size=64", "--set", "schedule=cosine")
    assert changed.returncode == 0 and "skip (done" not in changed.stderr, changed.stderr
    rows = load_runs(tmp_path, "shortcut").sort_values("started_at")
    first, second = rows.iloc[0], rows.iloc[1]
    assert (first["input_size"], json.loads(first["recipe"])["schedule"]) == (32, "step")  # the suite's own: step
    assert second["input_size"] == 64 and json.loads(second["recipe"])["schedule"] == "cosine"
    assert first["config_hash"] != second["config_hash"]
    again = bench(*common, "--set", "input_size=64", "--set", "schedule=cosine", "--dry-run")
    assert again.returncode == 0 and "skip (done at" in again.stdout  # the same overrides: the same identity


def outside_suite(tmp_path, dataset: str = "fake") -> str:
    path = tmp_path / "outside.toml"
    path.write_text(f'dataset = "{dataset}"\n[recipe]\nepochs = 1\nbatch_size = 32\n'
                    '[[entries]]\nvariant = "tests.toy_models:tiny_cnn"\n[[entries]]\nvariant = "timm:resnet18d"\n')
    return str(path)


@pytest.mark.slow
def test_outside_models_train_and_are_profiled_in_the_report(tmp_path):
    pytest.importorskip("timm")
    run = bench("run", "--suite", outside_suite(tmp_path), "--device", "cpu", "--results", str(tmp_path / "r"))
    assert run.returncode == 0, run.stderr
    rows = load_runs(tmp_path / "r", "outside").set_index("variant")
    assert (rows["status"] == "ok").all() and set(rows.index) == {"tests.toy_models:tiny_cnn", "timm:resnet18d"}
    # Hand counts at 32 px. tiny_cnn: 3→8 3×3 conv at 32×32 (8·32²·27), 8→16 3×3 at 16×16 (16·16²·72), 16→10 linear.
    assert rows.loc["tests.toy_models:tiny_cnn", "macs"] == 8 * 32 * 32 * 27 + 16 * 16 * 16 * 72 + 16 * 10
    # resnet18d is resnet18 with the 7×7/2 stem (64·16²·147) replaced by three 3×3 convs 3→32/2, 32→32, 32→64 at
    # 16×16, and average-pool + 1×1 shortcuts that cost what strided 1×1 ones do.
    resnet18 = bench("models", "resnet18", "--format", "json")
    base = json.loads(resnet18.stdout)[0]["macs"]
    stem3 = 16 * 16 * (32 * 27 + 32 * 288 + 64 * 288)
    assert rows.loc["timm:resnet18d", "macs"] == base - 64 * 16 * 16 * 147 + stem3
    identity = json.loads(rows.loc["timm:resnet18d", "identity"])["architecture"]
    assert identity["source"] == "timm" and identity["origin"].startswith("timm ")
    report = bench("report", "--results", str(tmp_path / "r"), "--out", str(tmp_path / "out"))
    assert report.returncode == 0, report.stderr
    table = parse_table((tmp_path / "out" / "outside.md").read_text(), "### Comparison").set_index("variant")
    assert table.loc["timm:resnet18d", "GMACs @32px"] == f"{rows.loc['timm:resnet18d', 'macs'] / 1e9:.3f}"
    # `bench latency` times outside models again as it does built-in ones: each from its own module or package
    again = bench("latency", "--results", str(tmp_path / "r"), "--processes", "2")
    assert again.returncode == 0, again.stderr
    timed = load_runs(tmp_path / "r", "outside").set_index("variant")
    assert timed["latency_remeasured_at"].notna().all() and (timed["latency_processes"] == 2).all()
    assert table.loc["tests.toy_models:tiny_cnn", "GMACs @32px"] == "0.001"


@pytest.mark.slow
def test_a_module_variant_reruns_when_its_source_file_changes(tmp_path):
    package = tmp_path / "mine"
    package.mkdir()
    (package / "__init__.py").write_text("")
    factory = "from tests.toy_models import tiny_cnn\n\n\ndef net(num_classes):\n    return tiny_cnn(num_classes)\n"
    (package / "nets.py").write_text(factory)
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.getcwd()])}
    args = ["run", "--suite", "shortcut", "--variants", "mine.nets:net", "--dataset", "fake", "--epochs", "1",
            "--batch-size", "32", "--device", "cpu", "--results", str(tmp_path / "r")]
    first = bench(*args, env=env)
    assert first.returncode == 0, first.stderr
    assert "skip (done at" in bench(*args, "--dry-run", env=env).stdout
    (package / "nets.py").write_text(factory.replace("    return", "    # the same model, an edited file\n    return"))
    plan = bench(*args, "--dry-run", env=env).stdout
    assert "run — differs from" in plan and "architecture.origin" in plan


def test_an_entry_point_variant_is_listed_with_its_source(tmp_path):
    dist = tmp_path / "toyzoo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toyzoo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[bench.variants]\ntoy-net = tests.toy_models:tiny_cnn\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.getcwd()])}
    listed = bench("models", "toy-*", "--format", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert (row["variant"], row["source"], row["macs"]) == ("toy-net", "entry point", 516_256)
    assert "toy-net" not in bench("models", "--format", "csv").stdout  # not installed: not listed


def test_torchvision_weights_bring_their_transforms_mean_and_std():
    import torchvision

    import models

    mean, std, where = models.weights_normalization(models.get_variant("resnet50"), "imagenet")
    preset = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.transforms()
    assert (list(mean), list(std)) == (list(preset.mean), list(preset.std)) == ([0.485, 0.456, 0.406],
                                                                               [0.229, 0.224, 0.225])
    assert "ResNet50_Weights.IMAGENET1K_V1" in where


def test_a_checkpoint_brings_its_own_normalisation_and_a_plain_state_dict_keeps_the_data_sets(two_seed_run, tmp_path):
    results, _ = two_seed_run
    saved = torch.load(next((results / "shortcut" / "checkpoints").glob("plain32-s0-*.pt")), weights_only=True)
    # A checkpoint of bench's format whose recorded statistics differ from the fake data set's own.
    saved["mean"], saved["std"] = [0.1, 0.2, 0.3], [0.4, 0.5, 0.6]
    checkpoint, plain = tmp_path / "checkpoint.pt", tmp_path / "plain.pt"
    torch.save(saved, checkpoint)
    torch.save(saved["state_dict"], plain)
    suite = tmp_path / "finetune.toml"
    suite.write_text(f'dataset = "fake"\n[recipe]\nepochs = 1\nbatch_size = 32\n[[entries]]\nvariant = "plain32"\n'
                     f'weights = "{checkpoint}"\n[[entries]]\nvariant = "plain32"\nweights = "{plain}"\n')
    run = bench("run", "--suite", str(suite), "--device", "cpu", "--results", str(tmp_path / "r"))
    assert run.returncode == 0, run.stderr
    rows = load_runs(tmp_path / "r", "finetune").set_index("weights")
    assert list(rows.loc[str(checkpoint), "norm_mean"]) == pytest.approx([0.1, 0.2, 0.3])
    assert list(rows.loc[str(checkpoint), "norm_std"]) == pytest.approx([0.4, 0.5, 0.6])
    assert rows.loc[str(checkpoint), "norm_source"] == "checkpoint checkpoint.pt"
    # A plain state dict says nothing about its inputs: the fake data's own statistics, uniform bytes → ≈ 0.5.
    assert rows.loc[str(plain), "norm_source"] == "training split"
    assert list(rows.loc[str(plain), "norm_mean"]) == pytest.approx([0.5, 0.5, 0.5], abs=0.01)
