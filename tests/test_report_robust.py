"""`bench report` never prints a traceback, writes short file names whatever the data spec, replaces a report only
when the new one is complete, and titles sections in words."""
from __future__ import annotations

import dataclasses
import json

from bench.store.identity import config_hash, experiment_hash
from bench.store.paths import predictions_dir
from tests.helpers import bench
from tests.test_experiments import BASE, OTHER, SUITE, write_run

LONG = "/tmp/" + "a-folder-with-a-very-long-name-" * 7  # over 200 characters


def with_data(results, variant: str, seed: int, data: dict, **fields):
    """A run row whose identity's data part is `data` (what an image folder or a CSV set records)."""
    row = write_run(results, variant, seed, 0.9, dataset=data["kind"], **fields)
    ident = json.loads(row.identity)
    ident["data"] = data
    row = dataclasses.replace(row, dataset=f"{data['kind']}:{data['path']}", identity=json.dumps(ident),
                              config_hash=config_hash(ident), experiment_hash=experiment_hash(ident))
    from bench.store.paths import runs_dir
    from bench.store.shards import write_shard

    write_shard([row], runs_dir(results, SUITE), row.run_id)
    return row


def test_a_mixed_folder_with_long_specs_reports_with_short_names_and_titles_in_words(tmp_path):
    results, out = tmp_path / "r", tmp_path / "out"
    folder = {"kind": "imagefolder", "path": LONG + "images", "content": "2ffc1053f284f269", "image_files": 10,
              "loader": "decoded once into the image cache v2, normalised with the training split's statistics"}
    labels = {"kind": "csv", "path": LONG + "labels.csv", "labels_sha256": "0123456789abcdef",
              "content": "fedcba9876543210", "image_files": 10, "loader": folder["loader"]}
    for data in (folder, labels):
        for variant in (BASE, OTHER):
            with_data(results, variant, 0, data)
    done = bench("report", "--results", str(results), "--out", str(out))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    markdown = (out / f"{SUITE}.md").read_text()
    titles = [line for line in markdown.splitlines() if line.startswith(f"## {SUITE} — ")]
    assert sorted(titles) == [f"## {SUITE} — csv, batch 64, cpu", f"## {SUITE} — imagefolder, batch 64, cpu"]
    for path in out.rglob("*"):
        assert len(path.name.encode()) < 100, path.name


def test_sections_told_apart_only_by_content_say_so_in_words(tmp_path):
    results, out = tmp_path / "r", tmp_path / "out"
    for content in ("1111111111111111", "2222222222222222"):
        data = {"kind": "imagefolder", "path": "/data/birds", "content": content, "image_files": 10, "loader": "v2"}
        with_data(results, BASE, 0, data)
    done = bench("report", "--results", str(results), "--out", str(out))
    assert done.returncode == 0, done.stderr
    titles = [line for line in (out / f"{SUITE}.md").read_text().splitlines() if line.startswith(f"## {SUITE} — ")]
    assert len(titles) == 2 and len(set(titles)) == 2
    assert all("data of the runs until" in t and "1111" not in t and "2222" not in t for t in titles), titles


def test_a_damaged_predictions_shard_is_set_aside_and_the_report_is_of_the_rest(tmp_path):
    results, out = tmp_path / "r", tmp_path / "out"
    for variant in (BASE, OTHER):
        write_run(results, variant, 0, 0.9, predictions=[(0, 0), (1, 1)])
    broken = next(predictions_dir(results, SUITE).glob("*.parquet"))
    broken.write_bytes(b"not parquet")  # read only after the tables, while the report is being built
    done = bench("report", "--results", str(results), "--out", str(out))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith(f"bench: {broken}: unreadable") and "set aside 1 damaged file" in lines[-1]
    assert (results / ".quarantine" / SUITE / "predictions" / broken.name).read_bytes() == b"not parquet"
    assert (out / f"{SUITE}.md").is_file()


def test_the_convergence_sentence_speaks_only_of_variants_with_ok_runs(tmp_path):
    results, out = tmp_path / "r", tmp_path / "out"
    write_run(results, BASE, 0, 0.9, plateaued=True)
    write_run(results, OTHER, 0, 0.9, status="failed")
    done = bench("report", "--results", str(results), "--out", str(out))
    assert done.returncode == 0, done.stderr
    markdown = (out / f"{SUITE}.md").read_text()
    assert f"converged: the best validation accuracy of every variant with an `ok` run ({BASE}) rose" in markdown
    assert "every variant's" not in markdown
