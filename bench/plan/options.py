"""What `bench run` was asked for: every flag of the command, declared once here (bench.core.argtypes.option) with
its default, type, choices and help; the CLI builds the flags from these fields, in this order, with each
launcher's own flags after `--launcher`."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from ..config.suite import MAX_SEEDS
from ..core.argtypes import StoreOnce, at_least, gpu_list, name_list, option, positive_seconds
from ..data.registry import kind_specs
from ..store.paths import DEFAULT_RESULTS
from ..store.speed import COMPILE_MODES, PRECISIONS


@dataclass
class RunOptions:
    """What `bench run` was asked for, beyond the suite's own definition."""

    suite: str | None = option(None, "a built-in suite (see `bench suites`) or a suite file path.toml", required=True)
    variants: list[str] | None = option(None, "comma-separated subset of the suite's variants (or other registered "
                                        "ones)", type=name_list)
    dataset: str | None = option(None, f"{', '.join(kind_specs())} (default: the suite's)")
    data_root: str | None = option(None, "folder holding (or receiving) cifar10/cifar100, and holding mnist / "
                                   "fashion-mnist IDX files (default ./data for CIFAR)")
    epochs: int | None = option(None, "override the recipe's epochs", type=at_least(1))
    seeds: int | None = option(None, "number of seeds, 0..N-1 (default: the suite's)",
                                type=at_least(1, MAX_SEEDS))
    batch_size: int | None = option(None, "override the recipe's batch size", type=at_least(1))
    settings: list[str] = option([], "override any recipe field, e.g. --set lr=0.1 --set schedule=step (repeatable; "
                                 "`bench suites --show NAME` lists the fields)", flag="--set", action="append",
                                 metavar="KEY=VALUE")  # checked against the recipe's fields
    tune: list[str] = option([], "tune a recipe field per variant on validation accuracy, e.g. --tune "
                             "lr=0.02,0.05,0.1,0.2 (repeatable: the grid is every combination); each variant then "
                             "runs its chosen values with the suite's seeds", action="append",
                             metavar="KEY=V1,V2,...")  # checked against the recipe's fields (bench.plan.tune)
    tune_seeds: int | None = option(None, "trials per grid point and variant, seeds 0..N-1 (default: the suite's "
                                    "[tune] seeds, else 1)", type=at_least(1, MAX_SEEDS),
                                    metavar="N")
    device: str = option("auto", "auto (cuda when available), cpu, cuda or cuda:N (GPU N)")
    precision: str | None = option(None, "override the recipe's precision: fp32 (TF32 off; the default), tf32, bf16 "
                                   "or fp16 (autocast)", choices=PRECISIONS)
    channels_last: bool | None = option(None, "train and measure in the channels_last (NHWC) memory format, or "
                                        "(--no-channels-last) in NCHW; default: the faster of the two, timed per "
                                        "variant and device", action=argparse.BooleanOptionalAction)
    compile: str | None = option(None, "torch.compile the training step (its time is the compile_s column, never in "
                                 "an epoch)", choices=COMPILE_MODES)
    run_timeout: float | None = option(None, "stop a run that takes longer (status timeout) and go on with the next",
                                       type=positive_seconds, metavar="SECONDS")  # process start included
    jobs: int = option(1, "run up to N runs at once: one GPU each on CUDA, cores // N threads each on the CPU "
                       "(rows record the sharing as `contended`)", type=at_least(1), metavar="N")  # the local pool
    gpus: list[int] | None = option(None, "the GPUs --jobs may use (default: all visible)", type=gpu_list,
                                    metavar="0,1,...")
    launcher: str = option("local", None)  # a launcher of bench.launch; its choices and help come from there
    launcher_options: Any = None  # that launcher's own options (e.g. bench.launch.slurm.SlurmOptions)
    results: str = option(DEFAULT_RESULTS, "output folder (default %(default)s/)", action=StoreOnce)
    force: bool = option(False, "re-run runs that already finished (older rows are kept)", action="store_true")
    dry_run: bool = option(False, "print the plan: each run, skip (done at ...) or run, and what changed since the "
                           "closest finished run", action="store_true")
    tensorboard: str | None = option(None, "also write TensorBoard scalars, histograms and HParams (each run's "
                                     "hyper-parameters and results) under DIR", metavar="DIR")
    checkpoints: bool = option(False, "keep each run's best-validation weights", action="store_true")
