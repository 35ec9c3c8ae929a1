"""Damaged files are named, set aside and the rest goes on; a full disk or a read-only folder mid-run is one line.

A real results folder (a finished run and a run stopped after its first epoch, real child processes, the digits
data), copied per test; then real files truncated, replaced by other bytes or by a file of another schema, removed,
and `bench status`, `report`, `compare` and `run` run for real: each damaged file gets one line naming it, is moved
into `<results>/.quarantine/` with its path kept, and the commands report the rest and count what they set aside. The
machine's faults are real too: a small tmpfs the run fills mid-run, a read-only bind mount."""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from bench.store.shards import load_runs
from tests.helpers import bench

RUN = ["run", "--suite", "shortcut", "--variants", "tests.toy_models:tiny_cnn", "--dataset", "digits", "--epochs", "2",
       "--batch-size", "64", "--device", "cpu", "--set", "input_size=16"]
QUARANTINE = ".quarantine"


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """shortcut: seed 0 finished ok (runs, epochs, predictions shards); seed 1 stopped after epoch 1 (its runs and
    epochs shards, and its checkpoint: state.pt and best-1.pt)."""
    results = tmp_path_factory.mktemp("made") / "results"
    finished = bench(*RUN, "--results", str(results))
    assert finished.returncode == 0, finished.stderr
    stopped = bench(*RUN, "--seeds", "2", "--results", str(results), env={"BENCH_TEST_SIGNAL_AT": "epoch:1"})
    assert stopped.returncode == 130, stopped.stderr
    return results


@pytest.fixture
def results(made, tmp_path) -> Path:
    copy = tmp_path / "results"
    shutil.copytree(made, copy)
    return copy


def shard(results: Path, table: str, seed: int) -> Path:
    (path,) = (results / "shortcut" / table).glob(f"*-s{seed}-*.parquet")
    return path


def checkpoint(results: Path) -> Path:
    (folder,) = (results / "shortcut" / "resume").iterdir()
    return folder


def truncate(path: Path, keep: int = 100) -> bytes:
    """Cut `path` to its first `keep` bytes (a copy stopped half-way); returns what it holds now."""
    data = path.read_bytes()[:keep]
    path.write_bytes(data)
    return data


def set_aside_to(results: Path, path: Path) -> Path:
    """Where a damaged file of `results` goes: the quarantine folder, its path inside the results folder kept."""
    return results / QUARANTINE / path.relative_to(results)


def assert_named_once(stderr: str, path: Path, moved_to: Path) -> None:
    """One line names `path`, and it says where the file went; no traceback."""
    lines = [line for line in stderr.splitlines() if str(path) in line]
    assert len(lines) == 1, stderr
    assert f"moved to {moved_to}" in lines[0] and "Traceback" not in stderr, stderr


def assert_counted(stderr: str, n: int) -> None:
    assert re.search(rf"^bench: set aside {n} damaged file\(s\)", stderr, re.M), stderr


# How a shard is damaged: cut short (a copy that stopped), other bytes (not parquet at all), and a sound parquet file
# of another table (an epochs shard where a runs shard belongs: its columns are not a run's).
def cut_short(results: Path, path: Path) -> None:
    truncate(path)


def other_bytes(results: Path, path: Path) -> None:
    path.write_bytes(b"PAR1 not a parquet file at all PAR1")


def another_table(results: Path, path: Path) -> None:
    shutil.copyfile(shard(results, "epochs", 1), path)


DAMAGES = [cut_short, other_bytes, another_table]


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.__name__)
def test_bench_status_sets_a_damaged_runs_shard_aside_and_counts_the_rest(results, damage):
    bad = shard(results, "runs", 0)
    damage(results, bad)
    before = bad.read_bytes()
    status = bench("status", "--results", str(results))
    assert status.returncode == 0, status.stderr
    assert_named_once(status.stderr, bad, set_aside_to(results, bad))
    assert_counted(status.stderr, 1)
    assert not bad.exists() and set_aside_to(results, bad).read_bytes() == before  # moved, byte for byte
    assert "shortcut: 1 run row(s): 1 interrupted" in status.stdout  # the other run, stopped after epoch 1


def test_a_shard_with_a_column_of_another_type_is_damaged_too(results):
    bad = shard(results, "runs", 0)
    table = pq.read_table(bad)
    seed = table.schema.get_field_index("seed")
    pq.write_table(table.set_column(seed, "seed", pa.array(["zero"])), bad)
    status = bench("status", "--results", str(results))
    assert status.returncode == 0
    assert_named_once(status.stderr, bad, set_aside_to(results, bad))
    assert "column seed holds string" in status.stderr


def test_bench_report_reports_the_rest_of_a_folder_with_damaged_shards(results, tmp_path):
    bad_epochs, bad_run = shard(results, "epochs", 1), shard(results, "runs", 1)
    truncate(bad_epochs)
    truncate(bad_run)
    report = bench("report", "--results", str(results), "--out", str(tmp_path / "out"))
    assert report.returncode == 0, report.stderr
    assert_named_once(report.stderr, bad_run, set_aside_to(results, bad_run))
    assert_named_once(report.stderr, bad_epochs, set_aside_to(results, bad_epochs))
    assert_counted(report.stderr, 2)
    assert "tiny_cnn" in (tmp_path / "out" / "shortcut.md").read_text()  # seed 0, reported


def test_bench_compare_sets_aside_a_damaged_predictions_shard_and_compares_the_rest(results):
    bad = shard(results, "predictions", 0)
    truncate(bad, 1000)
    compare = bench("compare", str(results), str(results))
    assert compare.returncode == 0, compare.stderr
    assert_named_once(compare.stderr, bad, set_aside_to(results, bad))
    assert_counted(compare.stderr, 1)
    assert "# bench compare" in compare.stdout


def test_bench_compare_sets_aside_a_damaged_runs_shard(results):
    bad = shard(results, "runs", 1)
    truncate(bad)
    compare = bench("compare", str(results), str(results))
    assert compare.returncode == 0, compare.stderr
    assert_named_once(compare.stderr, bad, set_aside_to(results, bad))


def test_a_file_set_aside_never_replaces_one_set_aside_before(results):
    bad = shard(results, "runs", 0)
    first = truncate(bad, 50)
    assert bench("status", "--results", str(results)).returncode == 0
    bad.write_bytes(b"the second damaged copy")
    status = bench("status", "--results", str(results))
    second = set_aside_to(results, bad).with_name(bad.stem + ".2.parquet")
    assert_named_once(status.stderr, bad, second)
    assert set_aside_to(results, bad).read_bytes() == first and second.read_bytes() == b"the second damaged copy"


def resumed(results: Path) -> subprocess.CompletedProcess:
    """The command that stopped seed 1, run again: seed 0 is done, seed 1 goes on (or starts afresh)."""
    return bench(*RUN, "--seeds", "2", "--results", str(results))


def assert_started_afresh(results: Path, run: subprocess.CompletedProcess) -> None:
    assert run.returncode == 0, run.stderr
    assert "resuming after epoch" not in run.stderr and "Traceback" not in run.stderr, run.stderr
    runs = load_runs(results, "shortcut").set_index("seed")
    assert list(runs["status"].sort_index()) == ["ok", "ok"]
    assert list(runs.loc[1, "resumed_after_epochs"]) == [] and runs.loc[1, "epochs_run"] == 2


@pytest.mark.slow  # a run of its own: ~27 s on a loaded 2-core machine
def test_a_truncated_state_starts_its_run_afresh_and_damaged_caches_are_measured_again(results):
    folder = checkpoint(results)
    state, best = folder / "state.pt", folder / "best-1.pt"
    truncate(state, 1000)
    (results / "peak_tflops.json").write_text("[]")
    run = resumed(results)
    assert_started_afresh(results, run)
    assert_named_once(run.stderr, state, set_aside_to(results, state))
    assert "the run starts afresh" in run.stderr
    assert set_aside_to(results, best).is_file()  # the state's weights go with it
    assert_named_once(run.stderr, results / "peak_tflops.json", results / QUARANTINE / "peak_tflops.json")
    assert (results / QUARANTINE / "peak_tflops.json").read_text() == "[]"


@pytest.mark.slow  # a run of its own: ~27 s on a loaded 2-core machine
def test_a_missing_best_weights_file_starts_its_run_afresh(results):
    folder = checkpoint(results)
    (folder / "best-1.pt").unlink()
    run = resumed(results)
    assert_started_afresh(results, run)
    assert_named_once(run.stderr, folder / "state.pt", set_aside_to(results, folder / "state.pt"))
    assert "best-1.pt is missing" in run.stderr


# A state.pt torch reads, holding something else than a checkpoint: `load_checkpoint` sets it aside (no run needed).
NOT_A_STATE = {"a list": [1, 2], "other keys": {"a": 1}, "a string epoch": "state"}


@pytest.mark.parametrize("content", list(NOT_A_STATE.values()), ids=list(NOT_A_STATE))
def test_a_state_that_is_not_a_checkpoint_is_set_aside(results, content, capsys):
    from bench.worker.resume import load_checkpoint

    folder = checkpoint(results)
    config_hash = folder.name
    torch.save(content, folder / "state.pt")
    assert load_checkpoint(folder, config_hash, "some-run", results) is None
    line = capsys.readouterr().err
    assert_named_once(line, folder / "state.pt", set_aside_to(results, folder / "state.pt"))


def test_a_checkpoint_that_is_sound_is_read(results):
    from bench.worker.resume import load_checkpoint

    folder = checkpoint(results)
    saved = load_checkpoint(folder, folder.name, "some-run", results)
    assert saved is not None and saved.epoch == 1 and [e.epoch for e in saved.epochs] == [1]
    assert not (results / QUARANTINE).exists()


def test_a_truncated_best_weights_file_is_set_aside(results, capsys):
    from bench.worker.resume import load_checkpoint

    folder = checkpoint(results)
    truncate(folder / "best-1.pt", 500)
    assert load_checkpoint(folder, folder.name, "some-run", results) is None
    err = capsys.readouterr().err
    assert "best-1.pt cannot be read" in err and not (folder / "best-1.pt").exists()


# Caches of the wrong shape: each reads as empty (measured again), said in one line, the file set aside.
PEAKS = {"a list": "[]", "a string": '"x"', "not JSON": "{", "a wrong entry": '{"cpu": {"tflops": "fast"}}',
         "a negative peak": '{"cpu": {"tflops": -1}}'}
CHOICES = {"a list": "[]", "a string": '"x"', "a number entry": '{"a": 1}',
           "no format": '{"k": {"step_ms_nchw": 1.0, "step_ms_channels_last": 2.0}}'}


@pytest.mark.parametrize("text", list(PEAKS.values()), ids=list(PEAKS))
def test_a_damaged_peak_cache_is_read_as_empty_and_set_aside(tmp_path, text, capsys):
    from bench.measure.utilization import read_cache

    path = tmp_path / "peak_tflops.json"
    path.write_text(text)
    assert read_cache(path) == {}
    assert_named_once(capsys.readouterr().err, path, tmp_path / QUARANTINE / "peak_tflops.json")
    assert (tmp_path / QUARANTINE / "peak_tflops.json").read_text() == text


@pytest.mark.parametrize("text", list(CHOICES.values()), ids=list(CHOICES))
def test_a_damaged_speed_choice_cache_is_read_as_empty_and_set_aside(tmp_path, text, capsys):
    from bench.plan.speed import read_choices
    from bench.store.speed import STEP_COLUMNS

    assert set(STEP_COLUMNS.values()) == {"step_ms_nchw", "step_ms_channels_last"}  # what "no format" leaves out
    path = tmp_path / "speed_choices.json"
    path.write_text(text)
    assert read_choices(path) == {}
    assert_named_once(capsys.readouterr().err, path, tmp_path / QUARANTINE / "speed_choices.json")


def test_a_sound_cache_is_read_as_it_is(tmp_path, capsys):
    from bench.measure.utilization import read_cache

    path = tmp_path / "peak_tflops.json"
    path.write_text(json.dumps({"cpu|fp32|2": {"tflops": 0.5, "method": "m", "measured_at": "now"}}))
    assert read_cache(path)["cpu|fp32|2"]["tflops"] == 0.5
    assert capsys.readouterr().err == "" and not (tmp_path / QUARANTINE).exists()


# ------------------------------------------------------------------------------------------ faults of the machine

# cnn_70k (66,714 parameters): its best weights (~0.27 MB) fit a 512 KiB tmpfs beside the run's first files, and its
# state (weights and SGD momentum, ~0.52 MB) does not; once that fails, the run's row (~50 kB) and epochs fit again.
FULL_RUN = ["run", "--suite", "shortcut", "--variants", "tests.toy_models:cnn_70k", "--dataset", "digits", "--epochs",
            "1", "--batch-size", "64", "--device", "cpu", "--set", "input_size=16"]
TMPFS_KIB = 512
STATE_BYTES_AT_LEAST = 2 * 66_714 * 4  # float32 weights and as many momentum values


@contextlib.contextmanager
def mounted(folder: Path, *how: str):
    """`mount *how` onto `folder` for the block, unmounted after it; the test skips where mounting is not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", *how, str(folder)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount here ({done.stderr.strip() or 'mount failed'}): needs root and CAP_SYS_ADMIN")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


def temporary_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_a_full_disk_mid_run_is_one_line_and_leaves_no_temporary_file(tmp_path):
    with mounted(tmp_path / "small", "-t", "tmpfs", "-o", f"size={TMPFS_KIB}k", "tmpfs") as small:
        run = bench(*FULL_RUN, "--results", str(small))
        leftovers = temporary_files(small)
        runs = load_runs(small, "shortcut")
    assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr
    (line,) = [line for line in run.stderr.splitlines() if "no space left" in line]
    assert f"in {small / 'shortcut' / 'resume'}" in line, line
    needed_mb = float(re.search(r"it needs ([0-9.]+) MB", line).group(1))
    assert needed_mb * 2 ** 20 >= STATE_BYTES_AT_LEAST * 0.99 and needed_mb * 2 ** 20 > TMPFS_KIB * 1024 / 2
    assert leftovers == []
    assert list(runs["status"]) == ["failed"] and "no space left" in runs["error"].iloc[0]  # the row, written


@pytest.mark.slow
def test_a_read_only_folder_mid_run_is_one_line(tmp_path):
    results = tmp_path / "results"
    resume = results / "shortcut" / "resume"  # where the run writes its first checkpoint, after epoch 1
    with mounted(resume, "--bind", str(resume)):
        done = subprocess.run(["mount", "-o", "remount,bind,ro", str(resume)], capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"cannot remount read-only here: {done.stderr.strip()}")
        with pytest.raises(OSError):
            (resume / "probe").write_text("x")  # really read-only, for root too
        run = bench(*RUN, "--epochs", "1", "--results", str(results))
    assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr
    (line,) = [line for line in run.stderr.splitlines() if "read-only file system" in line]
    assert f"in {resume}" in line and "best-1.pt" in line, line
    assert temporary_files(results) == []
    runs = load_runs(results, "shortcut")
    assert list(runs["status"]) == ["failed"] and "read-only" in runs["error"].iloc[0]
    assert os.access(resume, os.W_OK)  # unmounted again
