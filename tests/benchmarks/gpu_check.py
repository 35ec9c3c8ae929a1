"""`make gpu-check`: what a lent GPU must show, measured in one command, each figure beside its target.

Steps, in order (each a row group of one table):
1. the tests marked `gpu` (pytest -m gpu): none may fail;
2. `make speed`'s grid (tests.benchmarks.training_speed.measure): the harness's images/s against a hand-written
   loop per variant × batch × setting, harness ÷ hand ≥ 0.95 in every cell, the best setting of three variants at
   batch 512 against an H100's hand-loop ceilings (../shared GPU notes), and torch.compile's `reduce-overhead`
   against eager at batch 64;
3. the memory format chosen by measurement against the faster fixed format (measure_automatic), ≥ 0.9;
4. a short real-data run (`bench run`: Fashion-MNIST, stem-ablation's resnet18, one seed, a large batch): its
   setup_s, peak memory (allocated, reserved, NVML), MFU and GPU utilisation.

It prints one table (check | measured | target | verdict) and exits 0 when every target holds, 1 naming each that
fell short, 2 when the device is missing (one line, no traceback). `--device cpu` is the rehearsal: the very same
sequence at toy size on the CPU (table, targets, exit codes, real-data step), with the GPU-only figures left
unjudged; tests/test_gpu_check.py runs it and plants a shortfall with `--target`.
"""
from __future__ import annotations

import argparse
import json
import operator
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXIT_SHORT, EXIT_NO_DEVICE = 1, 2


@dataclass(frozen=True)
class Size:
    """How big each step is: the GPU's full size, or the CPU rehearsal's toy size."""

    variants: tuple[str, ...]
    batches: tuple[int, ...]
    settings: tuple[str, ...]
    images: int  # per timed epoch of the speed grid
    rounds: int
    compiled: str | None  # the setting of the reduce-overhead cell at the smallest batch (None: not on this device)
    automatic: tuple[str, ...]  # precisions of the automatic-format rows
    run: tuple[str, ...]  # the real-data run's `bench run` arguments


GPU = Size(("resnet18", "resnet18-stem3", "resnet18-cifar", "mobilenet_v2", "resnet50"), (64, 512),
           ("fp32", "fp32+cl", "tf32", "tf32+cl", "bf16", "bf16+cl"), 12_800, 3, "tf32+cl+ro", ("fp32", "tf32", "bf16"),
           ("--variants", "resnet18", "--epochs", "3", "--batch-size", "512", "--set", "lr=0.4",
            "--set", "latency_processes=1"))
REHEARSAL = Size(("plain32",), (8,), ("fp32", "fp32+cl"), 64, 2, None, ("fp32",),
                 ("--variants", "resnet18", "--epochs", "1", "--batch-size", "32", "--set", "train_limit=256",
                  "--set", "test_limit=200", "--set", "latency_processes=1", "--set", "precise_bn_batches=0"))

# Targets: (comparison, value). On a GPU, the H100 hand-loop ceilings at batch 512 (best setting, img/s) and the
# issue's rules; on the CPU rehearsal only what a toy run can be held to (None: not judged there).
GPU_TARGETS = {"gpu tests failed": ("<=", 0), "harness / hand": (">=", 0.95),
               "resnet18 b512 best img/s": (">=", 54_000), "resnet18-stem3 b512 best img/s": (">=", 45_000),
               "resnet18-cifar b512 best img/s": (">=", 48_000), "reduce-overhead / eager": (">=", 2.5),
               "automatic / best format": (">=", 0.9), "setup_s": ("<=", 5.0), "gpu util %": (">=", 90.0)}
CPU_TARGETS = {"gpu tests failed": ("<=", 0), "harness / hand": (">=", 0.5), "automatic / best format": (">=", 0.5),
               "setup_s": ("<=", 120.0)}
COMPARE = {"<=": operator.le, ">=": operator.ge}
STEPS = ("gpu-tests", "speed-grid", "automatic-format", "real-data-run")  # in the order they run


@dataclass
class Table:
    """The rows measured so far and the targets they are held to."""

    targets: dict[str, tuple[str, float]]
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    short: list[str] = field(default_factory=list)

    def add(self, check: str, value: float | None, unit: str = "", rule: str | None = None, shown: str | None = None):
        """One row; `rule` names the target (default: the check itself). No target: measured, not judged."""
        rule = rule or check
        text = shown if shown is not None else ("–" if value is None else f"{value:,.4g}{unit}")
        if rule not in self.targets:
            self.rows.append((check, text, "–", "measured"))
            return
        how, limit = self.targets[rule]
        target = f"{how} {limit:,.4g}{unit}"
        if value is None:
            verdict = "not measured"
            self.short.append(f"{check}: not measured (target {target})")
        elif COMPARE[how](value, limit):
            verdict = "ok"
        else:
            verdict = "SHORT"
            self.short.append(f"{check}: {text}, target {target}")
        self.rows.append((check, text, target, verdict))

    def markdown(self) -> str:
        lines = ["| check | measured | target | verdict |", "|---|---:|---:|---|"]
        return "\n".join(lines + [f"| {' | '.join(row)} |" for row in self.rows])


def gpu_tests(table: Table, device_type: str) -> None:
    """pytest -m gpu in a child process: counts of passed, skipped and failed."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider",
                           "--benchmark-disable", str(ROOT / "tests" / "test_gpu.py")],
                          capture_output=True, text=True, cwd=ROOT)
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|error)", done.stdout)}
    crashed = done.returncode not in (0, 5) and not counts  # pytest itself failed (5: nothing collected)
    failed = counts.get("failed", 0) + counts.get("error", 0) + int(crashed)
    table.add("gpu tests failed", failed, shown=f"{failed} ({counts.get('passed', 0)} passed, "
                                                f"{counts.get('skipped', 0)} skipped on {device_type})")


def speed_grid(table: Table, size: Size, device) -> None:
    from tests.benchmarks.training_speed import measure

    best: dict[tuple[str, int], float] = {}
    eager: dict[str, float] = {}
    for variant in size.variants:
        for batch in size.batches:
            for setting in size.settings:
                harness, hand = measure(variant, batch, setting, max(1, size.images // batch), size.rounds, device)
                table.add(f"{variant} b{batch} {setting}: harness / hand", harness / hand, rule="harness / hand",
                          shown=f"{harness / hand:.2f} ({harness:,.0f} vs {hand:,.0f} img/s)")
                best[variant, batch] = max(best.get((variant, batch), 0.0), harness)
                if batch == min(size.batches) and setting == (size.compiled or "").replace("+ro", ""):
                    eager[variant] = harness
        for batch in size.batches:
            table.add(f"{variant} b{batch} best img/s", best[variant, batch], rule=f"{variant} b{batch} best img/s")
        if size.compiled:
            compiled, _ = measure(variant, min(size.batches), size.compiled, max(1, size.images // min(size.batches)),
                                  size.rounds, device)
            table.add(f"{variant} b{min(size.batches)} reduce-overhead / eager",
                      compiled / eager[variant] if variant in eager else None, rule="reduce-overhead / eager")


def automatic_format(table: Table, size: Size, device) -> None:
    from tests.benchmarks.training_speed import measure_automatic

    for variant in size.variants:
        for precision in size.automatic:
            batch = max(size.batches)
            chosen, auto, nchw, cl = measure_automatic(variant, batch, precision, max(1, size.images // batch),
                                                       size.rounds, device)
            table.add(f"{variant} b{batch} {precision}: automatic / best format", auto / max(nchw, cl),
                      rule="automatic / best format",
                      shown=f"{auto / max(nchw, cl):.2f} (chose {'channels_last' if chosen else 'NCHW'})")


def real_data_run(table: Table, size: Size, device_arg: str, data_root: str | None) -> None:
    """A short stem-ablation run on Fashion-MNIST through `bench run`, its row read back."""
    from bench.store.shards import load_runs

    with tempfile.TemporaryDirectory(prefix="gpu-check-") as results:
        command = [sys.executable, "-m", "bench.cli", "run", "--suite", "stem-ablation", "--dataset", "fashion-mnist",
                   "--device", device_arg, "--results", results, *size.run,
                   *(["--data-root", data_root] if data_root else [])]
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            table.add("real-data run", None, rule="setup_s", shown=f"failed: {last}")
            return
        row = load_runs(Path(results), "stem-ablation").iloc[0]

    def value(column: str) -> float | None:
        v = row.get(column)
        return None if v is None or v != v else float(v)

    accuracy = value("test_acc")
    table.add("real-data run: test acc", None if accuracy is None else 100 * accuracy, " %")
    table.add("real-data run: images/s", value("images_per_s"))
    table.add("setup_s", value("setup_s"), " s")
    table.add(f"peak memory ({row['mem_kind']})", value("peak_mem_mb"), " MB")
    table.add("peak reserved", value("peak_reserved_mb"), " MB")
    table.add("NVML used", value("nvml_used_mb"), " MB")
    mfu = value("mfu")
    table.add("MFU", None if mfu is None else 100 * mfu, " %")
    table.add("gpu util %", value("gpu_util_pct"), " %")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (the check) or cpu (the rehearsal, toy size)")
    parser.add_argument("--target", action="append", default=[], metavar="CHECK=VALUE",
                        help="replace one target's value, e.g. --target setup_s=1 (the comparison stays)")
    parser.add_argument("--data-root", help="where the Fashion-MNIST IDX files are (default: bench's own search)")
    parser.add_argument("--out", help="also write the table (markdown) and the shortfalls (JSON) into this folder")
    parser.add_argument("--steps", default=",".join(STEPS), metavar="STEP,...",
                        help=f"run only these steps, in their order (default: all of {', '.join(STEPS)})")
    args = parser.parse_args(argv)

    import torch

    if args.device != "cpu" and not torch.cuda.is_available():
        print(f"gpu-check: no CUDA GPU on this machine (torch {torch.__version__} sees none); "
              "`make gpu-check DEVICE=cpu` rehearses the same steps at toy size on the CPU", file=sys.stderr)
        return EXIT_NO_DEVICE
    from bench.core.device import device_name, resolve_device

    device = resolve_device(args.device)
    size, targets = (GPU, dict(GPU_TARGETS)) if device.type == "cuda" else (REHEARSAL, dict(CPU_TARGETS))
    for text in args.target:
        name, _, limit = text.partition("=")
        if name not in targets:
            parser.error(f"--target {text}: no target named '{name}'; the targets: {', '.join(targets)}")
        targets[name] = (targets[name][0], float(limit))
    steps = [step.strip() for step in args.steps.split(",") if step.strip()]
    unknown = [step for step in steps if step not in STEPS]
    if unknown or not steps:
        parser.error(f"--steps {args.steps}: no step named '{(unknown or [''])[0]}'; the steps: {', '.join(STEPS)}")
    table = Table(targets)
    started = time.perf_counter()
    print(f"gpu-check on {device_name(device)} ({'the check' if device.type == 'cuda' else 'the CPU rehearsal'}, "
          f"torch {torch.__version__})", file=sys.stderr, flush=True)
    run = {"gpu-tests": lambda: gpu_tests(table, device.type),
           "speed-grid": lambda: speed_grid(table, size, device),
           "automatic-format": lambda: automatic_format(table, size, device),
           "real-data-run": lambda: real_data_run(table, size, args.device, args.data_root)}
    for name in (step for step in STEPS if step in steps):
        print(f"gpu-check: {name} ({time.perf_counter() - started:.0f} s in)", file=sys.stderr, flush=True)
        run[name]()
    print(table.markdown())
    print(f"\n{len(table.rows)} rows in {time.perf_counter() - started:.0f} s on {device_name(device)}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "gpu-check.md").write_text(table.markdown() + "\n")
        (out / "gpu-check-short.json").write_text(json.dumps(table.short, indent=1) + "\n")
    if table.short:
        print("gpu-check: short of target: " + "; ".join(table.short), file=sys.stderr)
        return EXIT_SHORT
    print("gpu-check: every target holds", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
