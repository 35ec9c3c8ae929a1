"""The local pool: `bench run --jobs N` runs up to N runs at once, each in its own worker process (bench.launch.local
uses it for --jobs > 1 and --gpus).

Each concurrent run gets a slot: on GPUs one GPU of `--gpus` (through CUDA_VISIBLE_DEVICES), never two timed
runs on one GPU; on the CPU `cores // N` threads (named in the run's identity, recorded in `num_threads`). CPU runs
share the cores, so their rows say they were `contended` (bench.measure.isolation). Ctrl-C or SIGTERM reaches every
running child, which records itself as interrupted; a child past --run-timeout is stopped alone.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass

from ..core.child import PROGRESS_VARIABLE
from ..core.errors import UsageError
from ..plan.spec import RunSpec
from .base import Ended, Settle, Todo
from .eta import SuiteEta
from .process import forward_signals, passed_on, restore_signals, spawn, stop

POLL_S = 0.2


@dataclass
class Slot:
    """Where one concurrent run goes: the environment its worker gets, and a name for the log."""

    env: dict[str, str]
    name: str


def slots(jobs: int, device: str, gpus: list[int] | None) -> list[Slot]:
    """`jobs` slots: one GPU each on CUDA, a share of the cores each on the CPU. Bad counts are one-line errors."""
    if jobs < 1:
        raise UsageError(f"--jobs {jobs}: give 1 or more concurrent runs")
    if device.startswith("cuda"):
        import torch

        visible = list(range(torch.cuda.device_count()))
        chosen = visible if gpus is None else gpus
        missing = [g for g in chosen if g not in visible]
        if missing:
            raise UsageError(f"--gpus {','.join(map(str, chosen))}: no GPU {missing[0]} here (visible: "
                             f"{','.join(map(str, visible)) or 'none'})")
        if jobs > len(chosen):
            raise UsageError(f"--jobs {jobs} with {len(chosen)} GPU(s) would put two timed runs on one GPU; "
                             f"use --jobs {len(chosen)} or fewer, or name more --gpus")
        return [Slot({"CUDA_VISIBLE_DEVICES": str(g)}, f"GPU {g}") for g in chosen[:jobs]]
    if gpus is not None:
        raise UsageError(f"--gpus needs a CUDA device; this run is on {device}")
    return [Slot({}, "its share of the cores") for _ in range(jobs)]  # the spec names its threads (local.threads)


@dataclass
class Running:
    child: subprocess.Popen
    spec: RunSpec
    number: int
    started: float


def run_all(todo: Todo, total: int, pool: list[Slot], timeout_s: float | None, grace_s: float,
            settle: Settle, eta: SuiteEta | None = None) -> bool:
    """Run `todo` ((number, spec) pairs) over `pool`; `settle(spec, Ended, number)` handles each end and says
    whether the suite must stop. True when interrupted."""
    pending, running, free = deque(todo), {}, list(range(len(pool)))
    previous = forward_signals()
    try:
        while pending or running:
            while pending and free:
                k = free.pop(0)
                number, spec = pending.popleft()
                # several runs share the terminal: each says its progress in plain lines, not a live one
                note, env = eta.starting(spec, [s for _, s in pending], share_terminal=True) if eta else (
                    "", {PROGRESS_VARIABLE: "lines"})
                print(f"[{number}/{total}] {spec.title} on {spec.dataset}, {spec.device} "
                      f"({pool[k].name}){note}", file=sys.stderr)
                running[k] = Running(spawn(spec, {**pool[k].env, **env}), spec, number, time.monotonic())
            for k, run in list(running.items()):
                code = run.child.poll()
                timed_out = code is None and timeout_s is not None and time.monotonic() - run.started > timeout_s
                if timed_out:
                    code = stop(run.child, signal.SIGTERM, grace_s)
                if code is None:
                    continue
                del running[k]
                free.append(k)
                if settle(run.spec, Ended(code, timed_out=timed_out), run.number):
                    pending.clear()
            time.sleep(POLL_S)
        return False
    except KeyboardInterrupt as exc:
        sent = passed_on(exc)
        for run in running.values():
            try:
                os.killpg(run.child.pid, sent)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        for run in running.values():
            try:
                code = run.child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                os.killpg(run.child.pid, signal.SIGKILL)
                code = run.child.wait()
            settle(run.spec, Ended(code, interrupted=True), run.number)
        running.clear()
        return True
    finally:
        for run in running.values():  # whatever happened above, no child outlives this call
            if run.child.poll() is None:
                os.killpg(run.child.pid, signal.SIGKILL)
                run.child.wait()
        restore_signals(previous)
