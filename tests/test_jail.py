"""The results folder is a jail: a name typed by the user or read back from a file (a suite, a run id in a resume
note, an isolation marker, a SLURM manifest) becomes a path only when it is one plain component inside the folder.
A bad name from the user is refused in one line; a bad value read from a file is named in one line and ignored; and
nothing is ever written outside the results folder. Real `bench` child processes and files in their real formats."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from bench.measure import isolation
from bench.store.paths import UnsafeName, inside, is_safe_name, safe_name
from bench.store.shards import load_runs
from tests.helpers import bench

RUN = ["run", "--suite", "shortcut", "--variants", "tests.toy_models:tiny_cnn", "--dataset", "digits", "--epochs", "1",
       "--batch-size", "64", "--device", "cpu", "--set", "train_limit=128", "--set", "test_limit=64"]


def tree(root: Path, leave_out: Path) -> dict[str, str]:
    """Every file under `root` but those under `leave_out`, with the sha256 of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and leave_out not in p.parents}


@pytest.mark.parametrize("name", ["", ".", "..", ".hidden", "-x", "a/b", "../x", "/etc/x", "a\x00b", "a\nb", "a b",
                                  "x" * 161, 3, None])
def test_a_name_that_is_not_one_plain_path_component_is_refused_in_one_line(name):
    assert not is_safe_name(name)
    with pytest.raises(UnsafeName) as refused:
        safe_name(name, "run id")
    assert "\n" not in str(refused.value) and str(refused.value).startswith("run id ")


@pytest.mark.parametrize("name", ["shortcut", "stem-ablation", "resnet18-s0-334927d6-6cd93e", "334927d6e287a78a",
                                  "tests.toy_models-tiny_cnn-s1-0123abcd-ffffff", "x" * 160, "_a"])
def test_names_bench_makes_are_accepted(name):
    assert safe_name(name, "run id") == name


def test_a_path_outside_the_results_folder_is_refused(tmp_path):
    results = tmp_path / "results"
    assert inside(results, results / "a" / "b.parquet") == results / "a" / "b.parquet"
    for outside in (results / ".." / "x", tmp_path / "resultsx" / "y", Path("/tmp/x")):
        with pytest.raises(UnsafeName):
            inside(results, outside)


def test_a_shard_named_by_a_hostile_run_id_is_not_written(tmp_path):
    from bench.store.schema import EpochRow
    from bench.store.shards import write_shard

    folder = tmp_path / "results" / "s" / "epochs"
    with pytest.raises(UnsafeName):
        write_shard([EpochRow("x", 1, 0.5, 0.5, 0.5, 0.5, 0.1, 1.0, 0.1, 100.0)], folder, "../../../x")
    assert not list(tmp_path.rglob("*.parquet")) and not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("suite", ["..", ".", "../x", "a/b"])
def test_a_suite_name_that_is_a_path_is_refused_in_one_line(tmp_path, suite):
    results = tmp_path / "results"
    for command in (["run", "--suite", suite, "--dry-run"], ["status", "--suite", suite]):
        done = bench(*command, "--results", str(results))
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("bench: "), done.stderr
        assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) <= ["results"]


SUITE_FILE = 'description = "d"\ndataset = "digits"\n[[entries]]\nvariant = "tests.toy_models:tiny_cnn"\n'


@pytest.mark.parametrize("name,file_name", [("..", "x.toml"), ("a/b", "x.toml"), (".", "x.toml"),
                                            (".hidden", "x.toml"), (None, "..toml"), (None, ".x.toml")])
def test_a_suite_file_whose_name_is_a_path_is_refused_in_one_line(tmp_path, name, file_name):
    path = tmp_path / "suites" / file_name
    path.parent.mkdir()
    path.write_text((f"name = {json.dumps(name)}\n" if name is not None else "") + SUITE_FILE)
    done = bench("run", "--suite", str(path), "--results", str(tmp_path / "results"), "--device", "cpu")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "must be letters, digits" in lines[0], done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["suites"]  # not even the results folder was made


def write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value if isinstance(value, str) else json.dumps(value))


HOSTILE_MARKERS = {  # file name → content: each not a marker that write_marker writes
    "dots.json": {"run_id": "../../x", "host": "h", "slot": "cpu:0", "pid": 1,
                  "started_at": "2026-01-01T00:00:00+00:00"},
    "pid.json": {"run_id": "a", "host": "h", "slot": "cpu:0", "pid": "1; rm -rf /",
                 "started_at": "2026-01-01T00:00:00+00:00"},
    "slot.json": {"run_id": "b", "host": "h", "slot": "cpu:0-99999999999", "pid": 1,
                  "started_at": "2026-01-01T00:00:00+00:00"},
    "naive.json": {"run_id": "c", "host": "h", "slot": "cpu:0", "pid": 1, "started_at": "2026-01-01T00:00:00"},
    "extra.json": {"run_id": "d", "host": "h", "slot": "cpu:0", "pid": 1, "started_at": "x", "evil": 1},
    "list.json": [1, 2],
    "broken.json": '{"run_id": ',
}


def test_a_marker_with_hostile_content_is_named_and_ignored(tmp_path, capsys):
    mine = isolation.Marker("run-a", isolation.host(), isolation.slot("cpu"), 1, "2026-01-01T00:00:00+00:00",
                            "2026-01-01T01:00:00+00:00")
    isolation.write_marker(tmp_path, mine)
    for name, content in HOSTILE_MARKERS.items():
        write_json(tmp_path / ".markers" / name, content)
    found = isolation.read_markers(tmp_path)
    assert found == [mine]
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == len(HOSTILE_MARKERS) and all(line.startswith("bench: ") for line in said)
    assert {line.split()[1].rsplit("/", 1)[1] for line in said} == set(HOSTILE_MARKERS)
    other = isolation.Marker("run-b", mine.host, mine.slot, 2, "2026-01-01T00:30:00+00:00", "2026-01-01T00:40:00+00:00")
    assert isolation.overlapping(other, found) == ["run-a"]


def test_a_slurm_manifest_cannot_send_a_row_elsewhere(tmp_path, capsys):
    from bench.config.recipe import Recipe
    from bench.launch.slurm_states import read_manifest
    from bench.plan.spec import RunSpec

    elsewhere = tmp_path / "elsewhere"
    spec = RunSpec("s", "tiny", None, "tiny", "digits", None, Recipe(epochs=1), 0, "cpu", str(elsewhere), "x")
    folder = tmp_path / "results" / "s" / "slurm"
    write_json(folder / "12.json", {"job_id": "12", "tasks": {"12_0": spec.to_json()}})
    _, specs = read_manifest(folder / "12.json")
    assert specs["12_0"].results == str(tmp_path / "results")  # the folder the manifest lies in, not the file's word
    hostile = [{"job_id": "12", "tasks": {"--help": spec.to_json()}},
               {"job_id": "../x", "tasks": {}},
               {"job_id": "13", "tasks": {"13_0": spec.to_json().replace(spec.run_id, "../../../x")}},
               {"job_id": "14", "tasks": {"14_0": spec.to_json().replace('"suite": "s"', '"suite": ".."')}},
               {"job_id": "15", "tasks": {"15_0": {"not": "a spec"}}},
               "[]", "{"]
    for i, content in enumerate(hostile):
        write_json(folder / f"bad{i}.json", content)
        assert read_manifest(folder / f"bad{i}.json") is None
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == len(hostile) and all("is not a SLURM submission's manifest; ignored" in s for s in said)


@pytest.mark.slow
def test_tampered_resume_notes_write_nothing_outside_the_results_folder(tmp_path):
    """Five finished runs; then each run's resume note names a run id that is a path (`../../../x`, an absolute
    path), holds a NUL or a newline, or names another run's finished row. Run again (--force: every identity runs,
    each reading its note): each note is named in one line and ignored, every run gets an id of its own, nothing
    appears or changes outside the results folder, and the five first rows are byte for byte as they were."""
    results = tmp_path / "outer" / "results"
    first = bench(*RUN, "--seeds", "5", "--results", str(results))
    assert first.returncode == 0, first.stderr
    before = load_runs(results, "shortcut").sort_values("seed")
    assert list(before["status"]) == ["ok"] * 5
    tampered = ["../../../x", str(tmp_path / "outer" / "abs"), "a\x00b", "a\nb", before["run_id"].iloc[0]]
    for config_hash, run_id in zip(before["config_hash"], tampered):
        write_json(results / "shortcut" / "resume" / config_hash / "point.json",
                   {"run_id": run_id, "epoch": 1, "epochs": 1})
    write_json(results / ".markers" / "evil.json", HOSTILE_MARKERS["dots.json"])
    outside, rows = tree(tmp_path, results), tree(results / "shortcut" / "runs", tmp_path / "none")

    again = bench(*RUN, "--seeds", "5", "--results", str(results), "--force")
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr
    named = [line for line in again.stderr.splitlines() if "point.json" in line or "its resume note" in line]
    assert len(named) == 5 and all(line.startswith("bench: ") for line in named), again.stderr
    assert "evil.json is not a timing-isolation marker; ignored" in again.stderr
    assert tree(tmp_path, results) == outside  # nothing written, changed or removed outside the folder
    assert {k: v for k, v in tree(results / "shortcut" / "runs", tmp_path / "none").items() if k in rows} == rows
    after = load_runs(results, "shortcut")
    assert len(after) == 10 and set(after["status"]) == {"ok"}
    new_ids = set(after["run_id"]) - set(before["run_id"])
    assert len(new_ids) == 5 and not new_ids & set(tampered)
