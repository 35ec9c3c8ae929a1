"""The `bench` command line: parses arguments and delegates; heavy imports happen inside each command."""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def cmd_models(args: argparse.Namespace) -> int:
    """Print the cost of every matching variant."""
    from .commands import models_table, print_frame

    print_frame(models_table(args.pattern, args.tag, args.input_size, args.num_classes), args.format,
                units="params: count; macs: fused multiply-adds (fvcore), flops = 2 × macs; "
                      "activations: output elements; size_mb: parameters + buffers in MB")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="bench", description="Train, measure and compare CNN architecture variants.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("models", help="list registered variants with params, MACs, FLOPs and activations")
    p.add_argument("pattern", nargs="?", help="variant name or glob pattern, e.g. 'resnet18*'")
    p.add_argument("--tag", help="only variants with this tag (stem, depth, mobile, shortcut, resnet, cifar)")
    p.add_argument("--input-size", type=int, default=32, help="input side in pixels (default 32)")
    p.add_argument("--num-classes", type=int, default=10, help="classifier outputs (default 10)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.set_defaults(func=cmd_models)
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
    except Exception as exc:  # only the user's errors are caught here; bugs keep their traceback
        if not is_user_error(exc):
            raise
        print(f"bench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def is_user_error(exc: Exception) -> bool:
    """Whether `exc` is a mistake in the user's input rather than a bug."""
    from models import UnknownVariantError, WeightsNotFoundError

    from .device import DeviceError
    from .errors import UsageError

    return isinstance(exc, (UsageError, UnknownVariantError, WeightsNotFoundError, DeviceError))


if __name__ == "__main__":
    sys.exit(main())
