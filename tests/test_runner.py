"""The runner end to end, with real child processes and real parquet: statuses, resume, atomic shards, errors."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from bench.plan.options import RunOptions
from bench.plan.prepare import plan
from bench.plan.spec import RunSpec
from bench.store.paths import predictions_dir
from bench.store.schema import RunRow
from bench.store.shards import load_epochs, load_runs, write_shard
from bench.config.recipe import Recipe
from bench.config.suite import Entry, Suite
from tests.conftest import SMALL_RUN, TWO_SEED_RUN, TWO_SEED_SETTINGS
from tests.helpers import ROOT, bench, children_of, running, wait_for_shards, worker_children



def test_every_run_is_ok_and_recorded(two_seed_run):
    results, result = two_seed_run
    assert result.returncode == 0, result.stderr
    runs = pd.read_parquet(results / "shortcut" / "runs")  # the folder of shards reads as one table
    assert sorted(zip(runs["variant"], runs["seed"])) == [("plain32", 0), ("plain32", 1), ("resnet32", 0), ("resnet32", 1)]
    assert (runs["status"] == "ok").all() and runs["synthetic_data"].all() and (runs["dataset"] == "fake").all()
    assert (runs["params"] == [sum(p.numel() for p in __import__("models").build(v).parameters())
                               for v in runs["variant"]]).all()
    assert (runs["mem_kind"] == "cpu_training_rss").all() and (runs["peak_mem_mb"] > 0).all()
    assert runs["data_mb"].tolist() == [(512 + 128 + 160) * (3 * 32 * 32 + 8) / 2**20] * 4  # fake: 640 train, 160 test
    assert (runs["latency_ms_b1"] > 0).all() and (runs["latency_batch"] == 32).all()
    assert runs["config_hash"].nunique() == 4
    epochs = pd.read_parquet(results / "shortcut" / "epochs")
    assert len(epochs) == 8 and set(epochs["epoch"]) == {1, 2}
    assert "next: bench report --suite shortcut" in result.stdout


def test_run_aggregates_follow_the_epoch_rows(two_seed_run):
    results, _ = two_seed_run
    runs, epochs = load_runs(results, "shortcut"), load_epochs(results, "shortcut")
    for _, run in runs.iterrows():
        mine = epochs[epochs["run_id"] == run["run_id"]].sort_values("epoch")
        assert run["epoch_time_s"] == pytest.approx(mine["epoch_time_s"].median())
        assert run["train_time_s"] == pytest.approx(mine["epoch_time_s"].sum())
        assert run["final_val_acc"] == mine["val_acc"].iloc[-1]
        assert sum(run["confusion"]) == 160 and len(run["confusion"]) == 10 * 10  # fake: 160 test images, 10 classes


def test_the_test_set_never_picks_the_epoch(two_seed_run):
    """best_epoch is the first epoch of highest validation accuracy; test_acc is that epoch's model on the test set."""
    from bench.data.augment import Preprocess
    from bench.data.registry import load_dataset
    from bench.train.loop import evaluate

    results, _ = two_seed_run
    runs, epochs = load_runs(results, "shortcut"), load_epochs(results, "shortcut")
    import models

    for _, run in runs.iterrows():
        mine = epochs[epochs["run_id"] == run["run_id"]].sort_values("epoch")
        assert run["best_epoch"] == int(mine["epoch"].iloc[mine["val_acc"].to_numpy().argmax()])
        assert run["best_val_acc"] == mine["val_acc"].max()
        # The checkpoint holds the best-validation weights; on the test split they give exactly test_acc.
        model = models.build(run["variant"], num_classes=10)
        checkpoint = torch.load(results / "shortcut" / "checkpoints" / f"{run['run_id']}.pt", weights_only=True)
        assert checkpoint["config_hash"] == run["config_hash"] and checkpoint["variant"] == run["variant"]
        assert checkpoint["classes"] == list(run["classes"]) and checkpoint["recipe"]["epochs"] == 2
        assert json.loads(checkpoint["identity"]) == json.loads(run["identity"])
        model.load_state_dict(checkpoint["state_dict"])
        data = load_dataset("fake", None, 32, int(run["seed"]), 0.2, torch.device("cpu"))
        pre = Preprocess(data, "none", torch.device("cpu"), torch.Generator())
        test = evaluate(model, data.test.batches(64), pre.eval, torch.nn.CrossEntropyLoss(), 10, torch.device("cpu"))
        assert test.acc == pytest.approx(run["test_acc"])
        assert test.confusion.flatten().tolist() == list(run["confusion"])


def test_tensorboard_gets_every_epoch_scalar_and_histograms(two_seed_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    results, _ = two_seed_run
    epochs = load_epochs(results, "shortcut")
    run_id = sorted(epochs["run_id"].unique())[0]
    log = EventAccumulator(str(results / "tensorboard" / "shortcut" / run_id), size_guidance={"histograms": 0})
    log.Reload()
    assert {"train_loss", "val_loss", "train_acc", "val_acc", "lr"} <= set(log.Tags()["scalars"])
    logged = log.Scalars("val_acc")
    mine = epochs[epochs["run_id"] == run_id].sort_values("epoch")
    assert [e.step for e in logged] == mine["epoch"].tolist()
    assert [e.value for e in logged] == pytest.approx(mine["val_acc"].tolist())
    assert "stem.weight" in log.Tags()["histograms"]


def test_tensorboard_hparams_hold_every_run_with_its_hyperparameters_and_results(two_seed_run):
    """Read back with TensorBoard's own reader and the HParams plugin's protobufs, as its HParams view reads them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    results, _ = two_seed_run
    runs = load_runs(results, "shortcut")
    assert len(runs) == 4
    for _, row in runs.iterrows():
        log = EventAccumulator(str(results / "tensorboard" / "shortcut" / row["run_id"]))
        log.Reload()
        content = log.PluginTagToContent("hparams")
        records = [plugin_data_pb2.HParamsPluginData.FromString(c) for c in content.values()]
        (start,) = [r.session_start_info for r in records if r.HasField("session_start_info")]
        (experiment,) = [r.experiment for r in records if r.HasField("experiment")]
        values = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()}
        assert values["variant"] == row["label"] and values["seed"] == row["seed"] and values["dataset"] == "fake"
        recipe = json.loads(row["recipe"])
        assert values["recipe.epochs"] == recipe["epochs"] and values["recipe.lr"] == pytest.approx(recipe["lr"])
        assert values["recipe.patience"] == "none"
        metrics = {m.name.tag for m in experiment.metric_infos}
        assert {"run/test_acc", "run/epoch_time_s", "run/macs", "run/peak_mem_mb"} <= metrics
        for tag, column in (("run/test_acc", "test_acc"), ("run/macs", "macs"), ("run/epoch_time_s", "epoch_time_s")):
            assert log.Scalars(tag)[-1].value == pytest.approx(float(row[column]), rel=1e-6)


@pytest.mark.slow
def test_early_stopping_ends_a_run_that_stopped_improving(tmp_path):
    # With a learning rate of 0 the weights never change (only BatchNorm statistics settle), so validation
    # accuracy soon stops improving, and patience 1 ends the run one epoch after its best.
    spec = spec_for(tmp_path, epochs=6, lr=0.0, patience=1)
    assert run_worker(spec).returncode == 0
    (row,) = load_runs(tmp_path, "unit").to_dict("records")
    assert row["status"] == "ok" and row["epochs"] == 6
    assert row["epochs_run"] == row["best_epoch"] + 1 < 6


def test_a_second_run_skips_everything_and_force_keeps_history(two_seed_results, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(two_seed_results, results)
    shards = sorted((results / "shortcut" / "runs").glob("*.parquet"))
    before = {p: p.stat().st_mtime_ns for p in shards}
    args = [*TWO_SEED_RUN, "--results", str(results)]
    again = bench(*args)
    assert again.returncode == 0
    assert again.stderr.count("skip (done at") == 4
    assert {p: p.stat().st_mtime_ns for p in shards} == before
    forced = bench("run", "--suite", "shortcut", "--variants", "plain32", "--seeds", "1", *TWO_SEED_SETTINGS,
                   "--results", str(results), "--force")  # the shared run's settings, one variant and seed
    assert forced.returncode == 0 and "skip" not in forced.stderr
    runs = load_runs(results, "shortcut")
    assert len(runs) == 5  # every execution keeps its own row: the forced re-run added one
    again_rows = runs[(runs["variant"] == "plain32") & (runs["seed"] == 0)]
    assert again_rows["config_hash"].nunique() == 1 and again_rows["run_id"].nunique() == 2
    assert {p: p.stat().st_mtime_ns for p in shards} == before  # the older shards are untouched


@pytest.mark.slow
def test_missing_weights_fail_that_run_and_the_suite_goes_on(tmp_path):
    result = bench("run", "--device", "cpu", "--suite", "pretrained-vs-scratch", "--variants", "resnet18 (imagenet),resnet18",
                   "--dataset", "fake", "--epochs", "1", "--batch-size", "64", "--results", str(tmp_path),
                   env={"TORCH_HOME": str(tmp_path / "torch")})
    assert result.returncode == 1  # not every run is ok
    runs = load_runs(tmp_path, "pretrained-vs-scratch").set_index("label")
    assert runs.loc["resnet18", "status"] == "ok"
    failed = runs.loc["resnet18 (imagenet)"]
    assert failed["status"] == "failed" and failed["weights"] == "imagenet"
    assert str(runs["params"].dtype) == "Int64" and pd.isna(failed["params"])  # nullable: stays an integer column
    assert "resnet18-f37072fd.pth" in failed["error"] and str(tmp_path / "torch" / "hub" / "checkpoints") in failed["error"]
    assert "Traceback" not in result.stderr


def run_worker(spec: RunSpec) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.worker", spec.to_json()], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def spec_for(tmp_path, epochs: int = 2, variant: str = "plain32", device: str = "cpu", **recipe) -> RunSpec:
    """The runner's own plan for one run of `variant` on fake data; no latency and one memory format unless the test
    asks (as tests.helpers.quick gives `bench run`, and why)."""
    recipe = {"latency_processes": 0, "channels_last": False, **recipe}
    suite = Suite("unit", "a one-run suite", (Entry(variant),), dataset="fake",
                  recipe=Recipe(epochs=epochs, batch_size=32, **recipe))
    return plan(suite, RunOptions(results=str(tmp_path)), torch.device(device))[0]


def test_non_finite_loss_is_recorded_as_diverged(tmp_path):
    spec = spec_for(tmp_path, lr=1e30, warmup_epochs=0)
    assert run_worker(spec).returncode == 0
    (row,) = load_runs(tmp_path, "unit").to_dict("records")
    assert row["status"] == "diverged" and "nan" in row["error"].lower()


def test_allocation_failure_is_recorded_as_oom(tmp_path):
    # 800 fake images of 3×20000×20000 bytes (~1 TB): the allocator refuses, as it would on a full GPU.
    spec = spec_for(tmp_path, input_size=20000)
    assert run_worker(spec).returncode == 0
    (row,) = load_runs(tmp_path, "unit").to_dict("records")
    assert row["status"] == "oom" and row["error"].startswith("out of memory")


def test_ctrl_c_marks_the_run_interrupted_and_keeps_finished_shards(tmp_path):
    args = ["run", "--device", "cpu", "--suite", "shortcut", "--variants", "resnet47-bottleneck", "--dataset", "fake", "--epochs", "50",
            "--batch-size", "32", "--results", str(tmp_path)]
    with running(*args) as proc:
        wait_for_shards(tmp_path / "shortcut" / "epochs")
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: SIGINT to the whole foreground process group
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    (row,) = load_runs(tmp_path, "shortcut").to_dict("records")
    assert row["status"] == "interrupted" and row["epochs_run"] >= 1
    epochs = load_epochs(tmp_path, "shortcut")
    assert len(epochs) == row["epochs_run"]
    assert "Traceback" not in err and "resume" in err
    assert not list((tmp_path / "shortcut").rglob(".*tmp"))  # no temporary file left behind


def test_a_worker_killed_without_a_word_is_recorded_as_failed(tmp_path):
    args = ["run", "--device", "cpu", "--suite", "shortcut", "--variants", "resnet47-bottleneck", "--dataset", "fake", "--epochs", "50",
            "--batch-size", "32", "--results", str(tmp_path)]
    with running(*args) as proc:
        wait_for_shards(tmp_path / "shortcut" / "epochs")
        (worker,) = children_of(proc.pid)
        os.kill(worker, signal.SIGKILL)  # what the kernel's OOM killer does: no chance to write anything
        proc.communicate(timeout=120)
    assert proc.returncode == 1
    (row,) = load_runs(tmp_path, "shortcut").to_dict("records")
    assert row["status"] == "failed" and "SIGKILL" in row["error"] and row["variant"] == "resnet47-bottleneck"


def test_shards_are_atomic(tmp_path, monkeypatch):
    good = RunRow("r1", "s", "v", "v", "none", "fake", True, 0, "ok", params=1)
    write_shard([good], tmp_path, "r1")

    import bench.store.atomic as atomic

    def crash(path, mode="r", *args, **kwargs):
        with open(path, "wb") as f:  # the builtin: half a file on the disk, then the disk dies
            f.write(b"PAR1 half a file")
        raise OSError("disk died mid-write")

    monkeypatch.setattr(atomic, "open", crash, raising=False)
    with pytest.raises(OSError):
        write_shard([RunRow("r1", "s", "v", "v", "none", "fake", True, 0, "failed")], tmp_path, "r1")
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["r1.parquet"]  # the half-written temporary file is removed
    table = pd.read_parquet(tmp_path)  # and the old shard is intact
    assert table["status"].tolist() == ["ok"] and table["params"].tolist() == [1]


def test_spec_round_trips_and_hash_tracks_the_experiment(tmp_path):
    spec = spec_for(tmp_path)
    assert RunSpec.from_json(spec.to_json()) == spec
    assert spec_for(tmp_path, lr=0.1).config_hash != spec.config_hash
    assert spec_for(tmp_path, lr=0.1).experiment_hash != spec.experiment_hash
    assert spec_for(tmp_path, variant="resnet32").experiment_hash == spec.experiment_hash  # same experiment
    assert spec_for(tmp_path).run_id != spec.run_id  # every execution gets its own shard
    assert json.loads(spec.to_json())["recipe"]["epochs"] == 2


def test_suites_lists_every_suite_with_recipe():
    out = bench("suites").stdout
    for name in ("stem-ablation", "mobile-vs-resnet", "pretrained-vs-scratch", "depth", "shortcut"):
        assert f"{name}:" in out
    assert "resnet18 (imagenet)" in out and "epochs=" in out
    assert "published (He et al. 2015, Table 2" in out and "resnet18-plain 72.06" in out
    assert "promised test accuracy on these defaults: resnet32 ≥ 90%" in out
    names = bench("suites", "--names")
    assert names.returncode == 0 and names.stdout.split() == ["stem-ablation", "mobile-vs-resnet",
                                                              "pretrained-vs-scratch", "depth", "shortcut"]


def test_every_predictions_shard_covers_the_test_split(two_seed_run):
    results, _ = two_seed_run
    for _, run in load_runs(results, "shortcut").iterrows():
        preds = pd.read_parquet(predictions_dir(results, "shortcut") / f"{run['run_id']}.parquet")
        # fake data: images 640..799 are the test split, labelled i mod 10
        assert len(preds) == 160 and preds["index"].tolist() == list(range(160))
        assert preds["label"].tolist() == [i % 10 for i in range(640, 800)]
        counts = np.zeros((10, 10), dtype=int)
        np.add.at(counts, (preds["label"], preds["predicted"]), 1)
        assert counts.flatten().tolist() == list(run["confusion"])  # the same predictions as the confusion counts
        assert ((preds["probability"] >= 0.1 - 1e-6) & (preds["probability"] <= 1)).all()  # argmax of 10 classes


def test_the_warm_up_leaves_training_bit_identical(tmp_path):
    from bench.plan.rows import new_row
    from bench.worker.run import train_run

    outcomes = []
    for steps in (0, 3):
        spec = spec_for(tmp_path / f"warmup{steps}", epochs=2)  # one memory format: tests.helpers.ONE_FORMAT says why
        row, epochs = new_row(spec), []
        train_run(spec, row, epochs, warmup_steps=steps)
        outcomes.append((row.test_acc, row.best_val_acc, row.confusion,
                         [(e.train_loss, e.train_acc, e.val_loss, e.val_acc) for e in epochs]))
    assert outcomes[0] == outcomes[1]


def test_an_interrupt_while_the_worker_starts_leaves_a_row(tmp_path):
    args = ["run", "--device", "cpu", "--suite", "shortcut", "--variants", "plain32", "--dataset", "fake", "--epochs", "1",
            "--results", str(tmp_path)]
    with running(*args) as proc:
        deadline = time.time() + 120
        while not worker_children(proc.pid) and time.time() < deadline:  # the worker, not a `git` of the planning
            time.sleep(0.01)
        time.sleep(0.2)  # the worker is importing torch: seconds before it trains
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    (row,) = load_runs(tmp_path, "shortcut").to_dict("records")
    assert row["status"] == "interrupted" and row["epochs_run"] == 0


def test_logs_are_plain_lines_when_not_on_a_terminal(two_seed_run):
    _, result = two_seed_run  # stderr captured through a pipe, as a log file would be
    assert "\r" not in result.stderr and "\x1b" not in result.stderr
    # each run ends with its line; epoch lines are thinned to one per 10 s (tests/test_progress.py times the rule)
    finals = re.findall(r"^\S+ s[01]: test acc \d+\.\d% \(best validation epoch [12]\), trained in \d+ s$",
                        result.stderr, re.MULTILINE)
    assert len(finals) == 4, result.stderr
    assert result.stderr.count("data fake: 10 classes; images train 510, val 130, test 160") == 4


def test_version_names_the_package_and_torch():
    import torchvision

    out = bench("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == (f"bench 0.1.0 (torch {torch.__version__.split('+')[0]}, "
                                  f"torchvision {torchvision.__version__.split('+')[0]})")


def alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_a_killed_runner_leaves_no_worker_behind(tmp_path):
    args = ["run", "--suite", "shortcut", "--variants", "resnet47-bottleneck", *SMALL_RUN, "--epochs", "50",
            "--results", str(tmp_path)]
    workers: list[int] = []
    try:
        with running(*args) as proc:
            wait_for_shards(tmp_path / "shortcut" / "epochs")
            workers = children_of(proc.pid)
            assert len(workers) == 1
            os.kill(proc.pid, signal.SIGKILL)  # the runner gets no chance to pass anything on
            proc.wait(timeout=30)
        deadline = time.time() + 10
        while alive(workers[0]) and time.time() < deadline:
            time.sleep(0.1)
        assert not alive(workers[0]), "the worker outlived its runner by 10 s"
    finally:
        for pid in workers:  # only if the assertion above failed
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    (row,) = load_runs(tmp_path, "shortcut").to_dict("records")  # it went as a SIGTERM'd run goes: row written
    assert row["status"] == "interrupted" and row["epochs_run"] >= 1


def test_sigterm_to_the_runner_reaches_the_worker(tmp_path):
    args = ["run", "--suite", "shortcut", "--variants", "resnet47-bottleneck", *SMALL_RUN, "--epochs", "50",
            "--results", str(tmp_path)]
    with running(*args) as proc:
        wait_for_shards(tmp_path / "shortcut" / "epochs")
        (worker,) = children_of(proc.pid)
        os.kill(proc.pid, signal.SIGTERM)  # what a scheduler or `kill` sends to the runner alone
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and not alive(worker) and "Traceback" not in err, err
    (row,) = load_runs(tmp_path, "shortcut").to_dict("records")
    assert row["status"] == "interrupted" and row["epochs_run"] >= 1


@pytest.mark.slow
def test_a_run_past_its_timeout_is_stopped_and_the_suite_goes_on(tmp_path):
    result = bench("run", "--suite", "shortcut", "--variants", "resnet47-bottleneck,plain32", *SMALL_RUN,
                   "--epochs", "1000", "--run-timeout", "15", "--results", str(tmp_path), timeout=300)
    assert result.returncode == 1, result.stderr  # not every run is ok
    runs = load_runs(tmp_path, "shortcut").set_index("variant")
    assert set(runs["status"]) == {"timeout"}  # both ran past 15 s; the second still ran
    first = runs.loc["resnet47-bottleneck"]  # however many epochs this machine managed in 15 s, 0 included:
    assert f"stopped after {first['epochs_run']} epoch(s)" in first["error"]  # the row says so and keeps them
    assert "--run-timeout 15 s" in first["error"]
    assert len(load_epochs(tmp_path, "shortcut").query("run_id == @first.run_id")) == first["epochs_run"]
    assert result.stderr.count("stopped after --run-timeout 15 s; going on") == 2 and "Traceback" not in result.stderr
    started, finished = (pd.to_datetime(runs[c]) for c in ("started_at", "finished_at"))
    assert ((finished - started).dt.total_seconds() < 15 + 30).all()
