"""Instruction counts of every variant's forward pass, with Callgrind: `make instructions` / `instructions-check`.

Timings on a shared machine drift by up to 1.9x between identical runs; the number of instructions a forward
pass executes does not (PyTorch's own CI checks counts for this reason). `record` collects, through
`torch.utils.benchmark`'s Callgrind support, the instructions of one eval-mode forward pass under
`torch.inference_mode()` of every registered variant (batch 1, 32 px, one thread, after a warm-up call) and
saves them to `.benchmarks/instructions/<machine>/NNNN_instructions.json`. All variants share one valgrind
process: the timed statement steps through them, one per Callgrind repeat, so torch is imported under
valgrind once (about two minutes here) instead of once per variant. `check` collects again and compares with
the newest saved file; a variant that executes more than `--threshold` percent more instructions fails.

What counts miss: anything that costs time without costing instructions (cache misses, memory bandwidth,
page faults, a different thread count or kernel chosen for the real CPU: valgrind shows its own CPU), so a
change of memory layout can be slower with the same count. Use counts to catch extra work in the code;
use `make latency-compare` for the time itself.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

STORAGE = Path(".benchmarks") / "instructions"
DEFAULT_THRESHOLD_PCT = 2.0
BATCH, SIZE, NUM_CLASSES, THREADS = 1, 32, 10, 1


class CountError(Exception):
    """Bad input or a missing tool: one line, exit 2."""


def machine_id() -> str:
    return f"{platform.system()}-{platform.python_implementation()}-{'.'.join(platform.python_version_tuple()[:2])}-{platform.machine()}"


def setup_code(repo: Path, names: list[str], weights: Path) -> str:
    """Runs inside the valgrind process: load every variant, warm each up, define `step()`.

    Initialising 200 M weights under valgrind would take minutes, so each model is built on the meta device
    (no memory, no arithmetic) and takes the weights built natively by the parent from a memory-mapped file.
    Callgrind runs `step()` once more as its own warm-up and then once per repeat; `step()` walks the
    variants in order, the first one twice, so repeat i measures variant i.
    """
    return f"""
import sys
sys.path.insert(0, {str(repo)!r})
import torch
import models
nets = []
for i, name in enumerate({names!r}):
    with torch.device("meta"):
        net = models.build(name, num_classes={NUM_CLASSES})
    state = torch.load(f"{weights}/{{i}}.pt", mmap=True, weights_only=True)
    net.load_state_dict(state, assign=True)
    nets.append(net.eval())
x = torch.randn({BATCH}, 3, {SIZE}, {SIZE}, generator=torch.Generator().manual_seed(0))
with torch.inference_mode():
    for net in nets:
        net(x)
order = iter([0] + list(range(len(nets))))
def step():
    net = nets[next(order)]
    with torch.inference_mode():
        net(x)
"""


def collect(repo: Path) -> dict:
    """Counts of every registered variant of the tree at `repo`, in one valgrind process."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_annotate") is None:
        raise CountError("valgrind not found: install it (Debian: apt-get install valgrind)")
    sys.path.insert(0, str(repo))
    import torch
    import models
    from torch.utils.benchmark import Timer

    names = [v.name for v in models.list_variants()]
    # torch starts `python <script>` under valgrind and checks it is this interpreter: put ours first on PATH.
    # A fixed hash seed keeps the interpreter's own work (dict and set layouts) the same from run to run.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ["PYTHONHASHSEED"] = "0"
    start = time.monotonic()
    print(f"collecting instruction counts of {len(names)} variants under valgrind (one process; "
          "importing torch under valgrind takes about two minutes)...", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as weights:
        for i, name in enumerate(names):
            torch.manual_seed(0)
            torch.save(models.build(name, num_classes=NUM_CLASSES).state_dict(), Path(weights) / f"{i}.pt")
        timer = Timer(stmt="step()", setup=setup_code(repo, names, Path(weights)), num_threads=THREADS)
        stats = timer.collect_callgrind(number=1, repeats=len(names), collect_baseline=False)
    counts = {name: s.counts() for name, s in zip(names, stats)}
    valgrind = subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "counts": counts,
        "unit": "instructions per forward pass",
        "batch_size": BATCH, "input_size": SIZE, "num_classes": NUM_CLASSES, "threads": THREADS,
        "torch": torch.__version__, "python": platform.python_version(), "valgrind": valgrind,
        "machine": machine_id(), "cpu": platform.processor() or platform.machine(),
        "commit": _commit(repo), "datetime": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "collect_s": round(time.monotonic() - start, 1),
    }


def _commit(repo: Path) -> str | None:
    done = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=repo, capture_output=True, text=True)
    return done.stdout.strip() or None


def save(result: dict, storage: Path) -> Path:
    folder = storage / result["machine"]
    folder.mkdir(parents=True, exist_ok=True)
    numbers = [int(p.name[:4]) for p in folder.glob("[0-9][0-9][0-9][0-9]_instructions.json")]
    path = folder / f"{max(numbers, default=0) + 1:04d}_instructions.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def latest(storage: Path) -> Path:
    saved = sorted(storage.glob("*/[0-9][0-9][0-9][0-9]_instructions.json"),
                   key=lambda p: (p.stat().st_mtime, p.name))
    if not saved:
        raise CountError(f"no saved instruction counts under {storage}/: run 'make instructions' first")
    return saved[-1]


def compare(base: dict, new: dict, threshold_pct: float) -> tuple[list[str], list[str]]:
    """Lines of the comparison table and the names of the variants past the threshold."""
    lines = [f"{'variant':<26} {'base':>14} {'new':>14} {'ratio':>8}"]
    failed = []
    for name, count in new["counts"].items():
        if name not in base["counts"]:
            lines.append(f"{name:<26} {'-':>14} {count:>14,} {'new':>8}")
            continue
        ratio = count / base["counts"][name]
        past = ratio > 1 + threshold_pct / 100
        failed += [name] if past else []
        lines.append(f"{name:<26} {base['counts'][name]:>14,} {count:>14,} {ratio:>8.4f}"
                     + (f"  FAIL (> +{threshold_pct:g}%)" if past else ""))
    gone = sorted(set(base["counts"]) - set(new["counts"]))
    if gone:
        lines.append(f"not in the new counts: {', '.join(gone)}")
    for key in ("torch", "valgrind", "machine", "input_size", "batch_size", "threads"):
        if base.get(key) != new.get(key):
            lines.append(f"note: {key} differs ({base.get(key)} in the baseline, {new.get(key)} now): "
                         "counts are comparable only on the same setup; run 'make instructions' for a new baseline")
    return lines, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("record", "check"))
    parser.add_argument("--storage", type=Path, default=STORAGE)
    parser.add_argument("--baseline", type=Path, help="saved counts to check against (default: the newest)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD_PCT,
                        help=f"check fails when a variant executes more than this %% more (default {DEFAULT_THRESHOLD_PCT:g})")
    parser.add_argument("--repo", type=Path, default=Path("."), help="the tree whose models are counted")
    args = parser.parse_args(argv)
    try:
        if args.action == "check":
            baseline_path = args.baseline or latest(args.storage)
            base = json.loads(baseline_path.read_text())
        result = collect(args.repo.resolve())
        print(f"collected in {result['collect_s']:.0f} s")
        if args.action == "record":
            path = save(result, args.storage)
            for name, count in result["counts"].items():
                print(f"{name:<26} {count:>14,}")
            print(f"saved {path}")
            return 0
        last = args.storage / "last-check.json"
        last.parent.mkdir(parents=True, exist_ok=True)
        last.write_text(json.dumps(result, indent=2) + "\n")
        lines, failed = compare(base, result, args.threshold)
        print(f"instructions per forward pass: baseline {baseline_path} vs now ({last})")
        print("\n".join(lines))
        if failed:
            print(f"FAIL: {len(failed)} variant(s) execute more than {args.threshold:g}% more instructions: "
                  f"{', '.join(failed)}")
            return 1
        print(f"ok: every variant within +{args.threshold:g}%")
        return 0
    except CountError as error:
        print(f"instructions: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
