"""`bench models` as a user runs it: a real child process, its stdout parsed as the format it claims."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import pandas as pd

from tests.test_profile import HAND_MACS_32PX


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True, timeout=300)


def test_csv_is_header_and_rows_only():
    result = bench("models", "resnet18*", "--format", "csv")
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert {"variant", "params", "macs", "flops", "activations", "input_size", "num_classes"} <= set(frame.columns)
    assert len(frame) == 7 and (frame["input_size"] == 32).all() and (frame["num_classes"] == 10).all()
    row = frame.set_index("variant").loc["resnet18"]
    assert row["macs"] == HAND_MACS_32PX["resnet18"] and row["flops"] == 2 * row["macs"]
    assert row["other_ops"] > 0  # batch norm and pooling, outside macs


def test_several_names_and_patterns_give_each_variant_once_in_the_order_named():
    result = bench("models", "mobilenet_v2", "resnet18-stem*", "resnet18,mobilenet_v2", "--format", "csv")
    assert result.returncode == 0, result.stderr
    variants = pd.read_csv(io.StringIO(result.stdout))["variant"].tolist()
    stems = sorted(pd.read_csv(io.StringIO(bench("models", "resnet18-stem*", "--format", "csv").stdout))["variant"])
    assert variants == ["mobilenet_v2", *variants[1:1 + len(stems)], "resnet18"] and sorted(variants[1:-1]) == stems


def test_json_respects_size_and_classes():
    result = bench("models", "mobilenet_v2", "--input-size", "224", "--num-classes", "1000", "--format", "json")
    (row,) = json.loads(result.stdout)
    assert row["params"] == 3_504_872 and row["input_size"] == 224


def test_unknown_pattern_exits_2_with_closest_names():
    result = bench("models", "resnet19")
    assert result.returncode == 2
    assert "resnet18" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_help_imports_no_torch():
    code = "import sys, bench.cli; bench.cli.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
