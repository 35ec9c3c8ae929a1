"""The `bench` command line: parses arguments and delegates; heavy imports happen inside each command."""
from __future__ import annotations

import argparse
import sys
from typing import Callable, NoReturn, Sequence

from .errors import EXIT_INTERRUPTED, EXIT_USAGE


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line naming it and where to look, exit status 2 (no usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer no smaller than `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is too small: it must be at least {minimum}")
        return value

    return parse


def positive_seconds(text: str) -> float:
    """An argparse type: a number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be more than 0 seconds")
    return value


def name_list(text: str) -> list[str]:
    """An argparse type: a comma-separated list with at least one name."""
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"'{text}' names nothing: give one or more comma-separated variants")
    return names


def gpu_list(text: str) -> list[int]:
    """An argparse type: comma-separated GPU indices, e.g. 0,1."""
    try:
        gpus = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a list of GPU indices like 0,1") from None
    if not gpus or min(gpus) < 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a list of GPU indices like 0,1")
    return gpus


def version_line() -> str:
    """The package, torch and torchvision versions, read from the installed metadata (no torch import)."""
    from importlib.metadata import PackageNotFoundError, version

    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return f"bench {of('bench')} (torch {of('torch')}, torchvision {of('torchvision')})"


def cmd_models(args: argparse.Namespace) -> int:
    from . import commands

    return commands.models(commands.from_namespace(commands.ModelsOptions, args))


def cmd_suites(args: argparse.Namespace) -> int:
    from . import commands

    return commands.suites(commands.from_namespace(commands.SuitesOptions, args))


def cmd_run(args: argparse.Namespace) -> int:
    from . import commands
    from .runner import RunOptions

    from .slurm import SlurmOptions

    options = commands.from_namespace(RunOptions, args)
    options.slurm = SlurmOptions(**{k.removeprefix("slurm_"): v for k, v in vars(args).items()
                                    if k.startswith("slurm_")}, detach=args.detach)
    return commands.run(commands.from_namespace(commands.RunCommand, args), options)


def cmd_status(args: argparse.Namespace) -> int:
    from . import commands

    return commands.status(commands.from_namespace(commands.StatusOptions, args))


def cmd_report(args: argparse.Namespace) -> int:
    from . import commands

    return commands.report(commands.from_namespace(commands.ReportOptions, args))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    from .speed import COMPILE_MODES, PRECISIONS

    parser = Parser(prog="bench", description="Train, measure and compare CNN architecture variants.")
    parser.add_argument("--version", action="version", version=version_line())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("models", help="list registered variants with params, MACs, FLOPs and activations")
    p.add_argument("pattern", nargs="?", help="variant name or glob pattern, e.g. 'resnet18*'")
    p.add_argument("--tag", help="only variants with this tag (stem, depth, mobile, shortcut, resnet, cifar)")
    p.add_argument("--input-size", type=at_least(1), default=32, help="input side in pixels (default 32)")
    p.add_argument("--num-classes", type=at_least(1), default=10, help="classifier outputs (default 10)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("suites", help="list the suites with their variants and recipe")
    p.add_argument("--names", action="store_true", help="only the suite names, one per line (for scripts)")
    p.add_argument("--show", metavar="SUITE", help="print SUITE as a TOML suite file, ready to copy and edit")
    p.set_defaults(func=cmd_suites)

    p = sub.add_parser("run", help="train and measure every variant × seed of a suite into parquet")
    p.add_argument("--suite", required=True, help="a built-in suite (see `bench suites`) or a suite file path.toml")
    p.add_argument("--variants", type=name_list,
                   help="comma-separated subset of the suite's variants (or other registered ones)")
    p.add_argument("--dataset", help="digits (default), mnist, fashion-mnist, cifar10, cifar100, fake, "
                                     "imagefolder:PATH or csv:PATH (default: the suite's)")
    p.add_argument("--data-root", help="folder holding (or receiving) cifar10/cifar100, and holding mnist / "
                                       "fashion-mnist IDX files (default ./data for CIFAR)")
    p.add_argument("--epochs", type=at_least(1), help="override the recipe's epochs")
    p.add_argument("--seeds", type=at_least(1), help="number of seeds, 0..N-1 (default: the suite's)")
    p.add_argument("--batch-size", type=at_least(1), help="override the recipe's batch size")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="override any recipe field, e.g. --set lr=0.1 --set schedule=step (repeatable; "
                        "`bench suites --show NAME` lists the fields)")
    p.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda or cuda:N (GPU N)")
    p.add_argument("--precision", choices=list(PRECISIONS),
                   help="override the recipe's precision: fp32 (TF32 off; the default), tf32, bf16 or fp16 (autocast)")
    p.add_argument("--channels-last", action="store_true", default=None,
                   help="train and measure in the channels_last (NHWC) memory format")
    p.add_argument("--compile", choices=list(COMPILE_MODES),
                   help="torch.compile the training step (its time is the compile_s column, never in an epoch)")
    p.add_argument("--run-timeout", type=positive_seconds, metavar="SECONDS",
                   help="stop a run that takes longer (status timeout) and go on with the next")
    p.add_argument("--jobs", type=at_least(1), default=1, metavar="N",
                   help="run up to N runs at once: one GPU each on CUDA, cores // N threads each on the CPU "
                        "(rows record the sharing as `contended`)")
    p.add_argument("--gpus", type=gpu_list, metavar="0,1,...", help="the GPUs --jobs may use (default: all visible)")
    p.add_argument("--launcher", choices=("local", "slurm"), default="local",
                   help="local: this machine (--jobs at once); slurm: one SLURM job array through submitit")
    p.add_argument("--slurm-partition", metavar="NAME", help="SLURM partition (default: the cluster's default)")
    p.add_argument("--slurm-time", dest="slurm_time_min", type=at_least(1), default=60, metavar="MINUTES",
                   help="time limit per task in minutes (default 60); a run past it gets status timeout")
    p.add_argument("--slurm-gpus-per-task", type=at_least(0), metavar="N", help="GPUs per task")
    p.add_argument("--slurm-cpus-per-task", type=at_least(1), metavar="N",
                   help="CPU cores per task (also the run's thread count)")
    p.add_argument("--slurm-mem", metavar="SIZE", help="memory per task, as sbatch takes it (e.g. 8G)")
    p.add_argument("--slurm-array-parallelism", type=at_least(1), default=256, metavar="N",
                   help="at most N tasks of the array at once (default 256)")
    p.add_argument("--slurm-extra", action="append", default=[], metavar="KEY=VALUE",
                   help="any other sbatch parameter, passed to submitit's additional parameters (repeatable)")
    p.add_argument("--detach", action="store_true",
                   help="with --launcher slurm: submit, print the job id and how to follow it, and return")
    p.add_argument("--results", default="results", help="output folder (default results/)")
    p.add_argument("--force", action="store_true", help="re-run runs that already finished (older rows are kept)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan: each run, skip (done at ...) or run, and what changed since the closest finished run")
    p.add_argument("--tensorboard", metavar="DIR", help="also write TensorBoard scalars and histograms under DIR")
    p.add_argument("--checkpoints", action="store_true", help="keep each run's best-validation weights")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="runs per status for each suite, the newest failures, SLURM jobs still queued")
    p.add_argument("--results", default="results", help="where `bench run` wrote (default results/)")
    p.add_argument("--suite", help="only this suite (default: every suite found)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("report", help="write markdown comparison tables and plots from the parquet results")
    p.add_argument("--suite", help="only this suite (default: every suite found)")
    p.add_argument("--results", default="results", help="where `bench run` wrote (default results/)")
    p.add_argument("--out", default="reports", help="output folder (default reports/)")
    p.add_argument("--strict", action="store_true",
                   help="exit 1, naming each one, when a variant did not plateau, stayed near chance, or fell under "
                        "the test accuracy its suite promises on its defaults (the report is written all the same)")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; user errors become one line on stderr and exit status 2."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`bench suites | head`): stop quietly, as Unix tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 0
    except Exception as exc:  # only the user's errors are caught here; bugs keep their traceback
        from .errors import user_error_types

        if not isinstance(exc, user_error_types()):
            raise
        print(f"bench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
