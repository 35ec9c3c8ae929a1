"""Scripted check that `make instructions-check` catches planted extra work, and only where it was planted.

    python -m tests.benchmarks.planted_check [--baseline .benchmarks/instructions/.../NNNN_instructions.json]

Clones this commit into a scratch folder twice. In one clone, `BasicBlock.forward` (models/resnet.py) gets
`--extra-ops` redundant `torch.relu` calls on a tensor that is already rectified (the output is unchanged);
in the other only a comment changes. It runs the instruction check of each clone against the baseline and
expects the first to fail naming exactly the variants that contain a `BasicBlock` (found by walking the
modules of each built model, not from the check's output), and the second to pass. About 10 minutes here.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.benchmarks.instructions import STORAGE, latest

BLOCK_LINE = "        out = self.relu(self.bn1(self.conv1(x)))\n        return self.merge(self.bn2(self.conv2(out)), x)\n"


def block_users() -> set[str]:
    import models
    from models.resnet import BasicBlock

    return {v.name for v in models.list_variants()
            if any(isinstance(m, BasicBlock) for m in models.build(v.name, num_classes=10).modules())}


def plant(clone: Path, extra_ops: int) -> None:
    path = clone / "models" / "resnet.py"
    text = path.read_text()
    if text.count(BLOCK_LINE) != 1:
        raise SystemExit(f"planted_check: BasicBlock.forward in {path} no longer reads as expected; update BLOCK_LINE")
    first, second = BLOCK_LINE.splitlines(keepends=True)
    redundant = f"        for _ in range({extra_ops}):  # planted: redundant work\n            out = torch.relu(out)\n"
    path.write_text(text.replace(BLOCK_LINE, first + redundant + second))


def comment(clone: Path) -> None:
    path = clone / "models" / "resnet.py"
    path.write_text(path.read_text().replace(BLOCK_LINE, "        # a comment changes nothing\n" + BLOCK_LINE))


def check(clone: Path, baseline: Path, threshold: float) -> tuple[int, set[str], str]:
    done = subprocess.run([sys.executable, "-m", "tests.benchmarks.instructions", "check", "--repo", str(clone),
                           "--baseline", str(baseline.resolve()), "--storage", str(clone / STORAGE),
                           "--threshold", str(threshold)], capture_output=True, text=True)
    named = re.search(r"^FAIL: .*?: (.*)$", done.stdout, re.MULTILINE)
    return done.returncode, set(named.group(1).split(", ")) if named else set(), done.stdout + done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="saved counts (default: the newest under .benchmarks/)")
    parser.add_argument("--extra-ops", type=int, default=24)
    parser.add_argument("--threshold", type=float, default=2.0)
    args = parser.parse_args()
    baseline = args.baseline or latest(STORAGE)
    expected = block_users()
    ok = True
    with tempfile.TemporaryDirectory(prefix="planted-") as tmp:
        for name, change in (("planted", lambda c: plant(c, args.extra_ops)), ("comment", comment)):
            clone = Path(tmp) / name
            subprocess.run(["git", "clone", "--quiet", "--shared", ".", str(clone)], check=True)
            change(clone)
            code, named, output = check(clone, baseline, args.threshold)
            print(f"--- {name} clone ---\n{output}")
            want = (1, expected) if name == "planted" else (0, set())
            verdict = (code, named) == want
            ok &= verdict
            print(f"{name}: exit {code}, named {sorted(named) or 'none'}; expected exit {want[0]}, "
                  f"{sorted(want[1]) or 'none'}: {'as expected' if verdict else 'NOT as expected'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
