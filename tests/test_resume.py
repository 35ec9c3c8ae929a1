"""Resume inside a run: a run stopped after any epoch (Ctrl-C, or its worker killed outright) goes on from its
checkpoint when the same command runs again, and ends bit for bit as the same run never stopped: the same weights
and optimizer state, the same epoch rows (losses, accuracies, learning rates), the same test predictions. Real
`bench run` child processes, real signals, the digits data and a small CNN with dropout (so torch's global generator
is part of what must come back), read back from the parquet and the checkpoint files themselves."""
from __future__ import annotations

import pandas as pd
import pytest
import torch

from bench.store.paths import speed_choices_path
from bench.store.shards import load_epochs, load_predictions, load_runs
from tests.helpers import FORMAT_BY_MEASUREMENT, bench

EPOCHS = 4
TOY_RUN = ["run", "--suite", "shortcut", "--variants", "tests.toy_models:tiny_dropout_cnn", "--dataset", "digits",
           "--epochs", str(EPOCHS), "--batch-size", "32", "--device", "cpu", "--checkpoints"]
RUN = [*TOY_RUN, *FORMAT_BY_MEASUREMENT]  # the probed choice is part of what a resumed run must bring back
COMPARED = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr"]  # not the times


def final_state(results) -> dict:
    """The training state the run ended with (kept by --checkpoints as final.pt), and its best weights."""
    (folder,) = (results / "shortcut" / "resume").iterdir()
    state = torch.load(folder / "final.pt", weights_only=True)
    (best,) = (results / "shortcut" / "checkpoints").glob("*.pt")
    return {"model": state["training"]["model"], "optimizer": state["training"]["optimizer"]["state"],
            "best": torch.load(best, weights_only=True)["state_dict"], "generator": state["training"]["generator"],
            "cpu_rng": state["training"]["cpu_rng"]}


def assert_same_tensors(a, b, where: str = "") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same_tensors(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f"{where} differs"
    else:
        assert a == b, where


@pytest.fixture(scope="module")
def never_stopped(tmp_path_factory):
    results = tmp_path_factory.mktemp("never-stopped")
    result = bench(*RUN, "--results", str(results))
    assert result.returncode == 0, result.stderr
    return results


# (how, after which epoch): Ctrl-C after the first, a middle and the last epoch; the worker killed (SIGKILL) mid-run.
STOPS = [("sigint", 1), ("sigint", EPOCHS // 2), ("sigint", EPOCHS), ("kill", EPOCHS // 2 + 1)]


@pytest.mark.slow
@pytest.mark.parametrize("how,after", STOPS, ids=[f"{how}-after-epoch-{k}" for how, k in STOPS])
def test_a_stopped_run_resumes_and_ends_as_if_never_stopped(never_stopped, tmp_path, how, after):
    signal_at = f"epoch:{after}" + (":kill" if how == "kill" else "")
    # The memory format the uninterrupted run's probe chose, shared: a second probe may choose the other format when
    # the two are close, and the formats compute in another order (tests/test_speed.py tests the choice itself).
    choices = speed_choices_path(never_stopped)
    speed_choices_path(tmp_path).write_bytes(choices.read_bytes())
    stopped = bench(*RUN, "--results", str(tmp_path), env={"BENCH_TEST_SIGNAL_AT": signal_at})
    assert stopped.returncode != 0 and "Traceback" not in stopped.stderr, stopped.stderr
    before = load_epochs(tmp_path, "shortcut")
    assert sorted(before["epoch"]) == list(range(1, after + 1))  # the finished epochs, kept
    dry = bench(*RUN, "--results", str(tmp_path), "--dry-run")
    assert f"after epoch {after} of {EPOCHS}" in dry.stdout, dry.stdout + dry.stderr

    resumed = bench(*RUN, "--results", str(tmp_path))
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming after epoch {after} of {EPOCHS}" in resumed.stderr

    runs = load_runs(tmp_path, "shortcut")
    assert len(runs) == 1, runs[["run_id", "status"]]  # the resumed run took the stopped run's place
    row = runs.iloc[0]
    assert row["status"] == "ok" and list(row["resumed_after_epochs"]) == [after] and row["epochs_run"] == EPOCHS
    reference = load_runs(never_stopped, "shortcut").iloc[0]
    assert list(reference["resumed_after_epochs"]) == []
    for column in ("test_acc", "best_val_acc", "best_epoch", "final_val_acc", "confusion", "channels_last",
                   "speed_chosen_by"):
        assert list(pd.Series([row[column]]).explode()) == list(pd.Series([reference[column]]).explode()), column

    epochs = load_epochs(tmp_path, "shortcut").sort_values("epoch")
    expected = load_epochs(never_stopped, "shortcut").sort_values("epoch")
    assert epochs[COMPARED].to_numpy().tolist() == expected[COMPARED].to_numpy().tolist()
    # No finished epoch trained twice: the epochs before the stop keep the stopped process's own timings.
    kept = epochs[epochs["epoch"] <= after].set_index("epoch")["epoch_time_s"]
    assert kept.equals(before.set_index("epoch").sort_index()["epoch_time_s"])

    predictions = load_predictions(tmp_path, "shortcut", [row["run_id"]]).sort_values("index")
    expected_predictions = load_predictions(never_stopped, "shortcut", [reference["run_id"]]).sort_values("index")
    columns = ["index", "label", "predicted", "probability"]
    assert predictions[columns].to_numpy().tolist() == expected_predictions[columns].to_numpy().tolist()
    assert_same_tensors(final_state(tmp_path), final_state(never_stopped))


@pytest.mark.slow
def test_an_unfinished_checkpoint_is_removed_when_the_run_ends_without_checkpoints(tmp_path):
    """Without --checkpoints nothing of the resume state stays once the run's ok row is written."""
    run = [a for a in RUN if a != "--checkpoints"]
    stopped = bench(*run, "--epochs", "2", "--results", str(tmp_path), env={"BENCH_TEST_SIGNAL_AT": "epoch:1"})
    assert stopped.returncode == 130, stopped.stderr
    assert list((tmp_path / "shortcut" / "resume").glob("*/state.pt"))
    resumed = bench(*run, "--epochs", "2", "--results", str(tmp_path))
    assert resumed.returncode == 0, resumed.stderr
    assert not any((tmp_path / "shortcut" / "resume").iterdir())
    (row,) = load_runs(tmp_path, "shortcut").to_dict("records")
    assert list(row["resumed_after_epochs"]) == [1] and row["checkpoint_s"] > 0
