"""The README documents what the code does: every parquet column, every suite, every CLI command."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from bench.cli import build_parser
from bench.store.schema import EpochRow, LatencyRow, PredictionRow, RunRow
from bench.config.builtin import SUITES

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_parquet_column_is_documented():
    documented = set(re.findall(r"`([a-zA-Z0-9_]+)`", README))
    for row_type in (RunRow, EpochRow, PredictionRow, LatencyRow):
        missing = [f.name for f in dataclasses.fields(row_type) if f.name not in documented]
        assert not missing, f"{row_type.__name__} columns missing from README: {missing}"


def test_the_schema_rows_of_the_measured_columns_are_the_catalogues():
    """Each catalogue entry (bench.store.metrics) has its own row in the README's runs table: the column, its type
    and the entry's meaning, word for word."""
    from bench.store.metrics import METRICS

    runs_table = README.split("**runs**", 1)[1].split("**epochs**", 1)[0]
    lines = set(runs_table.splitlines())
    for m in METRICS:
        assert f"| `{m.column}` | {m.type.__name__} | {m.meaning} |" in lines, m.column


def test_every_suite_and_command_is_documented():
    for name in SUITES:
        assert f"`{name}`" in README
    commands = build_parser()._subparsers._group_actions[0].choices
    for command in commands:
        assert f"bench {command}" in README
    assert "make run" in README and "make test" in README


def subcommand(name: str):
    return build_parser()._subparsers._group_actions[0].choices[name]


def flag_rows() -> dict[str, str]:
    """`bench run`'s flag table in the README: each flag it names → the text of its row."""
    rows = {}
    for line in README.splitlines():
        if line.startswith("| `--"):
            for flag in re.findall(r"`(--[a-z0-9-]+)", line.split(" | ")[0]):
                rows[flag] = line
    return rows


def test_every_run_flag_is_in_the_readme_table_with_its_default_and_choices():
    """The parser is built from the options' declarations (bench.plan.options, each launcher's options), so this
    holds the README's table to the one home of each flag, its default and its choices."""
    rows = flag_rows()
    for action in subcommand("run")._actions:
        flags = [f for f in action.option_strings if f.startswith("--") and f != "--help"]
        if not flags:
            continue
        flag = flags[0]  # a pair (--channels-last, --no-channels-last) shares one row
        for each in flags:
            assert each in rows and rows[each] == rows[flag], f"{each} is missing from the README's `bench run` table"
        for choice in action.choices or ():
            assert choice in rows[flag], f"{flag}: choice {choice} is missing from its README row"
        if action.default not in (None, False, [], "local") or flag == "--launcher":
            shown = str(action.default)
            assert shown in rows[flag], f"{flag}: its default {shown!r} is missing from its README row"


def test_every_flag_of_the_other_commands_is_in_the_readme():
    for command in ("models", "suites", "status", "report", "compare", "latency"):
        for action in subcommand(command)._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert f"bench {command}" in README and flag in README, f"bench {command} {flag}"


def test_the_accuracy_range_the_readme_quotes_is_the_committed_reports_own():
    """README restates the committed examples' measured range of the residual variants (the entries with a
    promise): read here from the committed rows, every place README quotes it must say the same."""
    from bench.store.shards import load_runs, suites_in
    from tests.helpers import EXAMPLES as examples

    means = []
    for suite in suites_in(examples):
        runs = load_runs(examples, suite)
        promised = runs[(runs["status"] == "ok") & runs["min_test_acc"].notna()]
        means += list(promised.groupby("label")["test_acc"].mean() * 100)
    assert means, "no committed example rows"
    expected = f"{min(means):.1f}–{max(means):.1f}%"
    quoted = re.findall(r"(\d+(?:\.\d+)?–\d+(?:\.\d+)?%) test accuracy", README)
    assert len(quoted) == 2 and set(quoted) == {expected}, (quoted, expected)


def test_the_number_of_bad_inputs_the_readme_quotes_is_the_tables():
    from tests.test_bad_input import CASES

    assert f"a table of {len(CASES)} bad inputs" in README


def test_the_bench_models_columns_the_readme_lists_are_its_output():
    from tests.helpers import bench

    listed = re.search(r"Columns: `([^`]+)`", README)[1]
    done = bench("models", "resnet18", "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == ",".join(c.strip() for c in listed.replace("\n", " ").split(","))


def test_the_dtypes_the_readme_promises_are_what_pandas_reads(tmp_path):
    """A real folder of shards, one run ok and one failed (empty cells), read exactly as README says."""
    import pandas as pd

    from tests.test_experiments import BASE, OTHER, SUITE, write_run

    write_run(tmp_path, BASE, 0, 0.95, plateaued=True, epochs_to_95pct=3)
    write_run(tmp_path, OTHER, 0, 0.5, status="failed")
    call = re.search(r'`pd\.read_parquet\("results/stem-ablation/runs", (dtype_backend="numpy_nullable")\)`', README)
    assert call, "README's pandas line changed: update this test with it"
    runs = pd.read_parquet(tmp_path / SUITE / "runs", dtype_backend="numpy_nullable")
    for column, kind in (("plateaued", "boolean"), ("best_epoch", "Int64"), ("epochs_to_95pct", "Int64"),
                         ("contended", "boolean"), ("seed", "Int64"), ("test_acc", "Float64"),
                         ("label", "string")):
        assert str(runs[column].dtype) == kind, column
    assert runs["best_epoch"].isna().sum() == 1  # the failed run's cell stays empty, not NaN in a float column


def test_the_two_recipe_comparison_the_readme_pastes_is_the_commands_output_on_the_committed_rows():
    from tests.helpers import bench

    command = ("bench compare examples/results --base-set batch_size=32 --head-set batch_size=64 --head-set lr=0.1 "
               "--head-set epochs=32")
    assert command in README
    start = README.index("# bench compare: examples/results (batch_size=32) → "
                         "examples/results (batch_size=64, lr=0.1, epochs=32)")
    pasted = README[start:README.index("```", start)].strip().splitlines()
    done = bench(*command.split()[1:])
    assert done.returncode == 0, done.stderr
    assert len(pasted) > 10 and [line for line in pasted if line not in done.stdout.splitlines()] == []
