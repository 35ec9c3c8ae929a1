"""`--launcher local` (the default): the runs on this machine, one at a time, or up to `--jobs` at once through
the pool (one GPU of `--gpus` each on CUDA, `cores // jobs` threads each on the CPU)."""
from __future__ import annotations

import dataclasses
import os
import sys

from ..plan.options import RunOptions
from .base import Launched, LauncherKind, Settle, Todo
from .eta import SuiteEta
from .process import STOP_GRACE_S, launch


class Local:
    def __init__(self, options: RunOptions) -> None:
        self.options = options

    def check(self, device: str) -> None:
        from .pool import slots

        slots(self.options.jobs, device, self.options.gpus)  # bad --jobs / --gpus: one line, before anything runs

    def threads(self, device: object) -> int | None:
        """One run at a time: this process's thread count; a pool of N on the CPU: cores // N each."""
        import torch

        if getattr(device, "type", str(device)) != "cpu":
            return None
        if self.options.jobs > 1:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
            return max(1, cores // self.options.jobs)
        return torch.get_num_threads()

    def run(self, todo: Todo, total: int, settle: Settle, eta: SuiteEta | None = None) -> Launched:
        options = self.options
        if options.jobs > 1 or options.gpus is not None:  # the pool, also for one run on a chosen GPU
            from .pool import run_all, slots

            pool = slots(options.jobs, todo[0][1].device if todo else "cpu", options.gpus)
            if pool[0].env.get("CUDA_VISIBLE_DEVICES") is not None:  # the slot's GPU is the child's only GPU
                todo = [(i, dataclasses.replace(spec, device="cuda")) for i, spec in todo]
            return Launched(run_all(todo, total, pool, options.run_timeout, STOP_GRACE_S, settle, eta))
        for k, (i, spec) in enumerate(todo):
            note, env = eta.starting(spec, [s for _, s in todo[k + 1:]]) if eta else ("", {})
            print(f"[{i}/{total}] {spec.title} on {spec.dataset}, {spec.device}{note}", file=sys.stderr)
            if settle(spec, launch(spec, options.run_timeout, env=env), i):
                return Launched(interrupted=True)
        return Launched()


LAUNCHER = LauncherKind("local", "this machine (--jobs at once)", None, Local)
