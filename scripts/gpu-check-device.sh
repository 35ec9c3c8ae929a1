#!/usr/bin/env bash
# On the lent GPU machine (no network; its own python3 with torch and torchvision), from the repository root with the
# payload of `make gpu-payload` carried in .gpu/: install its wheels beside the machine's packages, say in one line
# what else is missing, then run the GPU check, its table and shortfalls written to $OUT (or .gpu/out).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-.gpu/out}
python3 -m pip install -q --upgrade --no-index --no-deps --target /tmp/gpu-site .gpu/whl/*.whl 2>/dev/null || exit 2
export PYTHONPATH=/tmp/gpu-site:$PWD
missing=$(python3 -c '
import importlib.util as u
names = ["torch", "torchvision", "fvcore", "pandas", "pyarrow", "scipy", "matplotlib", "sklearn", "tabulate", "tqdm",
         "pytest", "pytest_benchmark", "pynvml", "jinja2", "markdown", "tensorboard"]
print(" ".join(n for n in names if u.find_spec(n) is None))')
[ -z "$missing" ] || echo "gpu-check-device: not installed here: $missing (add their wheels to .gpu/whl)" >&2
case " $missing " in *" torch "*) exit 2;; esac  # nothing runs without torch
python3 -m tests.benchmarks.gpu_check --device cuda --data-root .gpu/data --out "$out"
