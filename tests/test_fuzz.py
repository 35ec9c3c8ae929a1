"""Every kind of file bench reads back, corrupted at random (Hypothesis): a real results folder (the shared two-seed
runs, with their checkpoints) is copied, one of its files is truncated, has bytes flipped, is replaced by random bytes
or by another valid-looking document, and the readers bench itself calls read the folder again. Whatever the bytes:
no exception escapes (a damaged file is named and set aside: bench.store.quarantine), nothing is written outside the
results folder, no file is deleted (a damaged one is moved into `.quarantine/`), and every `ok` row whose own shard
was not the one corrupted is still read as `ok`. Suite files get the same treatment: a suite or a one-line error."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed: pip install -e '.[test]'")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from bench.core.errors import UsageError  # noqa: E402

SUITE = "shortcut"  # the shared two-seed runs' suite (tests/conftest.py)
FUZZ = settings(max_examples=int(os.environ.get("BENCH_FUZZ_EXAMPLES", "15")), deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def corrupted(draw, original: bytes) -> bytes:
    """`original` damaged in one of the ways a disk, a copy or a person damages a file."""
    how = draw(st.sampled_from(["truncate", "flip", "random", "empty", "append", "splice"]))
    if how == "truncate":
        return original[:draw(st.integers(0, max(len(original) - 1, 0)))]
    if how == "flip":
        data = bytearray(original)
        for _ in range(draw(st.integers(1, 16))):
            if data:
                i = draw(st.integers(0, len(data) - 1))
                data[i] ^= draw(st.integers(1, 255))
        return bytes(data)
    if how == "random":
        return draw(st.binary(min_size=1, max_size=4096))
    if how == "empty":
        return b""
    if how == "append":
        return original + draw(st.binary(min_size=1, max_size=256))
    cut = draw(st.integers(0, len(original)))  # splice: a block of other bytes in the middle
    return original[:cut] + draw(st.binary(min_size=1, max_size=512)) + original[cut + 1:]


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                      max_size=4), max_leaves=12)


@st.composite
def corrupted_json(draw, original: bytes) -> bytes:
    """Bytes damaged at random, or a valid JSON document of another shape (a list, a number, wrong types, hostile
    strings such as a run id of `../../x`)."""
    if draw(st.booleans()):
        return draw(corrupted(original))
    document = json.loads(original) if original else {}
    hostile = st.sampled_from(["../../../x", "/etc/passwd", "a\x00b", "a\nb", "..", ".", "", "x" * 500])
    if isinstance(document, dict) and document and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(document)))
        document[key] = draw(hostile | JSON_VALUES)
    else:
        document = draw(JSON_VALUES)
    return json.dumps(document).encode()


def files_under(folder: Path) -> dict[str, int]:
    """Every file under `folder` by relative path, with its size."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


class Copy:
    """A fresh copy of the two-seed results in a folder of its own, so that whatever is written beside the results
    folder shows."""

    def __init__(self, template: Path):
        self.root = Path(tempfile.mkdtemp(prefix="fuzz-"))
        self.results = self.root / "results"
        shutil.copytree(template, self.results)
        self.before = files_under(self.results)

    def corrupt(self, relative: str, data: bytes) -> Path:
        path = self.results / relative
        path.write_bytes(data)
        return path

    def check_nothing_lost(self, corrupted: str | None) -> None:
        """Nothing outside the results folder, no file deleted (set aside counts as kept), every ok row not
        corrupted still read as ok."""
        from bench.store.shards import load_runs

        assert sorted(p.name for p in self.root.iterdir()) == ["results"], "written beside the results folder"
        after = files_under(self.results)
        aside = {k.removeprefix(".quarantine/") for k in after if k.startswith(".quarantine/")}
        lost = [k for k in self.before if k not in after and k not in aside]
        assert not lost, f"deleted: {lost}"
        runs = load_runs(self.results, SUITE)
        ok = set(runs.loc[runs["status"] == "ok", "run_id"])
        expected = {Path(k).stem for k in self.before if k.startswith(f"{SUITE}/runs/") and k != corrupted}
        assert expected <= ok, f"ok rows lost: {expected - ok}"

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def template(two_seed_results, tmp_path_factory) -> Path:
    """The two-seed results, one of whose runs is made a stopped run: its kept final state is its `state.pt`, and
    its note says where it stopped (what a killed run leaves)."""
    from bench.store.resume import ResumePoint, write_point
    from bench.store.shards import load_runs

    folder = tmp_path_factory.mktemp("fuzz-template") / "results"
    shutil.copytree(two_seed_results, folder, ignore=shutil.ignore_patterns("tensorboard", "checkpoints"))
    run = load_runs(folder, SUITE).iloc[0]
    resume = folder / SUITE / "resume" / run["config_hash"]
    shutil.copy(resume / "final.pt", resume / "state.pt")
    write_point(folder, SUITE, run["config_hash"], ResumePoint(run["run_id"], int(run["epochs_run"]),
                                                             int(run["epochs_run"])))
    return folder


def relative_files(template: Path, pattern: str) -> list[str]:
    return sorted(str(p.relative_to(template)) for p in template.glob(pattern))


def fuzz_one(template: Path, relative: str, data: bytes, read) -> None:
    copy = Copy(template)
    try:
        copy.corrupt(relative, data)
        read(copy.results)
        copy.check_nothing_lost(relative)
    finally:
        copy.close()


def read_tables(results: Path) -> None:
    from bench.store.shards import load_epochs, load_predictions, load_runs

    runs = load_runs(results, SUITE)
    load_epochs(results, SUITE)
    load_predictions(results, SUITE, list(runs["run_id"]))


@pytest.mark.parametrize("table", ["runs", "epochs", "predictions"])
def test_a_damaged_shard_is_set_aside_and_the_rest_is_read(template, table):
    files = relative_files(template, f"{SUITE}/{table}/*.parquet")

    @FUZZ
    @given(data=st.data())
    def check(data):
        relative = data.draw(st.sampled_from(files))
        fuzz_one(template, relative, data.draw(corrupted((template / relative).read_bytes())), read_tables)

    check()


def resume_folder(template: Path) -> Path:
    return next(p.parent for p in template.glob(f"{SUITE}/resume/*/state.pt"))


def test_a_damaged_checkpoint_starts_its_run_afresh(template):
    """state.pt or best-K.pt damaged: the loader gives the checkpoint or None (the run starts afresh), never an
    exception; a damaged pair is set aside."""
    from bench.store.resume import read_point
    from bench.worker.resume import Saved, load_checkpoint

    folder = resume_folder(template)
    config_hash = folder.name
    point = read_point(template, SUITE, config_hash)
    names = sorted(p.name for p in folder.glob("*.pt") if p.name != "final.pt")

    def read(results: Path) -> None:
        where = results / folder.relative_to(template)
        got = load_checkpoint(where, config_hash, point.run_id, results)
        assert got is None or isinstance(got, Saved)
        if got is None:  # damaged: what the loader refused is no longer where the next run would read it
            assert not (where / "state.pt").exists()

    @FUZZ
    @given(data=st.data())
    def check(data):
        name = data.draw(st.sampled_from(names))
        relative = str((folder / name).relative_to(template))
        fuzz_one(template, relative, data.draw(corrupted((folder / name).read_bytes())), read)

    check()


def test_a_damaged_resume_note_is_ignored_and_never_becomes_a_path(template):
    from bench.store.paths import is_safe_name
    from bench.store.resume import read_point

    folder = resume_folder(template)
    relative = str((folder / "point.json").relative_to(template))

    def read(results: Path) -> None:
        point = read_point(results, SUITE, folder.name)
        assert point is None or (is_safe_name(point.run_id) and point.epoch >= 0)

    @FUZZ
    @given(data=st.data())
    def check(data):
        fuzz_one(template, relative, data.draw(corrupted_json((folder / "point.json").read_bytes())), read)

    check()


@pytest.mark.parametrize("name", ["peak_tflops.json", "speed_choices.json"])
def test_a_damaged_cache_reads_as_empty(template, name):
    from bench.measure.utilization import read_cache
    from bench.plan.speed import read_choices

    reader = {"peak_tflops.json": read_cache, "speed_choices.json": read_choices}[name]
    original = (template / name).read_bytes() if (template / name).is_file() else b"{}"

    def read(results: Path) -> None:
        assert isinstance(reader(results / name), dict)

    @FUZZ
    @given(data=st.data())
    def check(data):
        fuzz_one(template, name, data.draw(corrupted_json(original)), read)

    check()


def test_a_damaged_timing_marker_is_ignored(template):
    from bench.measure.isolation import read_markers

    markers = relative_files(template, ".markers/*.json")
    assert markers, "the two-seed runs left no timing marker"

    def read(results: Path) -> None:
        for marker in read_markers(results):
            assert "/" not in marker.run_id and ".." not in marker.run_id

    @FUZZ
    @given(data=st.data())
    def check(data):
        relative = data.draw(st.sampled_from(markers))
        fuzz_one(template, relative, data.draw(corrupted_json((template / relative).read_bytes())), read)

    check()


SUITE_FILE = b"""name = "fuzzed"
description = "a suite file read back"
seeds = 2

[[entries]]
variant = "resnet18"

[[entries]]
variant = "resnet18-stem3"
label = "stem3"
"""


@FUZZ
@given(data=st.data())
def test_a_damaged_suite_file_is_a_suite_or_one_line_error(data):
    from bench.config.suitefile import load_suite

    text = data.draw(corrupted(SUITE_FILE))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzzed.toml"
        path.write_bytes(text)
        try:
            suite = load_suite(path)
        except UsageError as exc:
            assert "\n" not in str(exc).strip(), "a suite file's error is one line"
        else:
            assert suite.name and "/" not in suite.name and suite.name not in (".", "..")
        assert sorted(os.listdir(folder)) == ["fuzzed.toml"]
