"""A result's identity: change one thing that decides the number and the run is redone; change nothing and it
is skipped. Real runs in child processes, real files, the runner's own plan."""
from __future__ import annotations

import dataclasses
import subprocess

import pytest
import torch

import models
from bench.plan import prepare as runner
from bench.commands.run import dry_run, run_suite
from bench.plan.options import RunOptions
from bench.plan.prepare import git_sha
from bench.store.shards import load_runs
from bench.config.recipe import Recipe
from bench.config.builtin import SUITES
from bench.config.suite import Entry, Suite
from tests.helpers import bench, write_image_folder

# The options of the shared two-seed fixture (conftest.TWO_SEED_RUN, plus the one memory format tests.helpers.quick
# gives): plain32 + resnet32, fake, 2 epochs, batch 32, latency in one process.
SAME = dict(variants=["plain32", "resnet32"], dataset="fake", epochs=2, seeds=2, batch_size=32, device="cpu",
            settings=["latency_processes=1"], channels_last=False)


def plan_lines(results, **changes) -> list[str]:
    return dry_run("shortcut", RunOptions(**{**SAME, **changes}, results=str(results)))


def test_an_unchanged_repeat_is_skipped(two_seed_results):
    lines = plan_lines(two_seed_results)
    assert len(lines) == 4 and all(": skip (done at " in line for line in lines)


@pytest.mark.parametrize("change, fragment", [
    ({"batch_size": 16}, "recipe.batch_size: 32 → 16"),
    ({"epochs": 3}, "recipe.epochs: 2 → 3"),
])
def test_a_recipe_change_reruns_and_says_what_changed(two_seed_results, change, fragment):
    lines = plan_lines(two_seed_results, **change)
    assert all(": run — differs from " in line and fragment in line for line in lines)


def test_another_device_name_reruns(two_seed_results, monkeypatch):
    monkeypatch.setattr("bench.core.device.device_model", lambda device: "Another CPU 9000")
    lines = plan_lines(two_seed_results)
    assert all(": run" in line and "device.name:" in line and "Another CPU 9000" in line for line in lines)


def test_another_torch_version_reruns(two_seed_results, monkeypatch):
    monkeypatch.setattr(torch, "__version__", "9.9.9")
    lines = plan_lines(two_seed_results)
    assert all(": run" in line and "software.torch:" in line and "→ 9.9.9" in line for line in lines)


def test_a_changed_variant_definition_reruns_only_that_variant(two_seed_results, monkeypatch):
    # resnet32 with wider stages: same name, another architecture.
    models.list_variants()  # the registry loads its table on first use
    registry = models.registry._REGISTRY
    wider = dataclasses.replace(registry["resnet32"], kwargs={**registry["resnet32"].kwargs, "widths": (16, 32, 64)})
    monkeypatch.setitem(registry, "resnet32", wider)
    lines = plan_lines(two_seed_results)
    assert sum(": skip (done at " in line for line in lines) == 2  # plain32, both seeds
    changed = [line for line in lines if "resnet32" in line.split(":")[0]]
    assert len(changed) == 2 and all("architecture.fingerprint" in line and "architecture.kwargs.widths" in line
                                     for line in changed)


@pytest.mark.slow
def test_images_replaced_in_place_rerun_for_real(tmp_path):
    folder = tmp_path / "butterflies"
    write_image_folder(folder, per_class=6)
    args = ["run", "--device", "cpu", "--suite", "shortcut", "--variants", "plain32", "--dataset", f"imagefolder:{folder}",
            "--epochs", "1", "--batch-size", "4", "--seeds", "1", "--device", "cpu", "--results", str(tmp_path / "r")]
    first = bench(*args)
    assert first.returncode == 0, first.stderr
    repeat = bench(*args)
    assert repeat.returncode == 0 and "skip (done at" in repeat.stderr
    # Same paths, new pixels (and so new sizes and modification times): the old result no longer describes them.
    for png in sorted((folder / "train" / "admiral").glob("*.png"))[:3]:
        from PIL import Image

        Image.new("RGB", (20, 20), (120, 120, 0)).save(png)
    plan = bench(*args, "--dry-run")
    assert plan.returncode == 0 and "run — differs from" in plan.stdout and "data.content" in plan.stdout
    assert "recipe" not in plan.stdout.split("differs from", 1)[1]  # the data alone changed
    again = bench(*args)
    assert again.returncode == 0 and "skip" not in again.stderr
    runs = load_runs(tmp_path / "r", "shortcut")
    assert len(runs) == 2 and runs["config_hash"].nunique() == 2 and (runs["status"] == "ok").all()


@pytest.mark.slow
def test_a_weights_file_with_new_contents_reruns_for_real(tmp_path, monkeypatch):
    weights = tmp_path / "plain32-start.pt"
    torch.save(models.build("plain32").state_dict(), weights)
    suite = Suite("from-file", "plain32 from a local weights file", (Entry("plain32", str(weights)),),
                  dataset="fake", recipe=Recipe(epochs=1, batch_size=32))
    monkeypatch.setitem(SUITES, suite.name, suite)
    options = RunOptions(results=str(tmp_path / "r"), device="cpu")
    first = run_suite(suite.name, options)
    assert not first.skipped and not first.interrupted
    assert run_suite(suite.name, options).skipped  # unchanged: skipped
    torch.manual_seed(1)
    torch.save(models.build("plain32").state_dict(), weights)  # same path, new contents
    (line,) = dry_run(suite.name, options)
    assert "run — differs from" in line and "weights.sha256" in line
    second = run_suite(suite.name, options)
    assert not second.skipped
    runs = load_runs(tmp_path / "r", suite.name)
    assert len(runs) == 2 and (runs["status"] == "ok").all() and runs["config_hash"].nunique() == 2


def test_dry_run_prints_the_plan_and_runs_nothing(two_seed_results, tmp_path):
    result = bench("run", "--device", "cpu", "--suite", "shortcut", "--variants", "plain32,resnet32", "--dataset", "fake", "--epochs",
                   "2", "--batch-size", "16", "--seeds", "2", "--results", str(two_seed_results), "--dry-run")
    assert result.returncode == 0
    assert result.stdout.count("recipe.batch_size: 32 → 16") == 4
    assert len(load_runs(two_seed_results, "shortcut")) == 4  # nothing ran


def git(repo, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                   capture_output=True)


def test_dirty_flag_sees_only_what_can_change_a_result(tmp_path):
    for path in ("bench/a.py", "models/b.py", "pyproject.toml", "reports/example.md", "README.md"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("one\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "start")
    (tmp_path / "reports" / "example.md").write_text("regenerated by make run\n")
    (tmp_path / "README.md").write_text("edited\n")
    assert not git_sha(tmp_path).endswith("+dirty")
    (tmp_path / "models" / "b.py").write_text("changed\n")
    assert git_sha(tmp_path).endswith("+dirty")


def test_the_identity_leaves_out_cosmetic_things(tmp_path):
    suite = SUITES["shortcut"]
    a = runner.plan(suite, RunOptions(variants=["plain32"], dataset="fake", results=str(tmp_path / "a")),
                    torch.device("cpu"))[0]
    b = runner.plan(suite, RunOptions(variants=["plain32"], dataset="fake", results=str(tmp_path / "b"),
                                      tensorboard=str(tmp_path / "tb"), checkpoints=True), torch.device("cpu"))[0]
    assert a.config_hash == b.config_hash and a.run_id != b.run_id


def test_the_recorded_versions_are_the_packages_own_read_without_importing_torchvision():
    """The software identity holds torch's and torchvision's `__version__` (with the build tag, `+cu130`, `+cpu`);
    bench reads torchvision's from its version.py, so a run does not import torchvision (and torch._dynamo) for it."""
    import sys

    code = ("import sys; from bench.core.versions import package_version; v = package_version('torchvision'); "
            "print('torchvision' in sys.modules); import torchvision; print(v == torchvision.__version__, v)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imported, same = done.stdout.split("\n")[:2]
    assert imported == "False" and same.startswith("True "), done.stdout
