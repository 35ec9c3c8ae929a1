"""The README documents what the code does: every parquet column, every suite, every CLI command."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from bench.cli import build_parser
from bench.store import EpochRow, PredictionRow, RunRow
from bench.suites import SUITES

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_parquet_column_is_documented():
    documented = set(re.findall(r"`([a-zA-Z0-9_]+)`", README))
    for row_type in (RunRow, EpochRow, PredictionRow):
        missing = [f.name for f in dataclasses.fields(row_type) if f.name not in documented]
        assert not missing, f"{row_type.__name__} columns missing from README: {missing}"


def test_every_suite_and_command_is_documented():
    for name in SUITES:
        assert f"`{name}`" in README
    commands = build_parser()._subparsers._group_actions[0].choices
    for command in commands:
        assert f"bench {command}" in README
    assert "make run" in README and "make test" in README
