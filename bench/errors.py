"""Errors that are the user's to fix, and the exit statuses: the CLI prints a one-line message, never a traceback."""
from __future__ import annotations

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # the shell's convention for a process ended by SIGINT (Ctrl-C)


class UsageError(Exception):
    """Bad input from the user (a name, a path, a value), with a message naming it and the fix."""


def user_error_types() -> tuple[type[Exception], ...]:
    """Every exception type that means a mistake in the user's input rather than a bug."""
    from models import UnknownVariantError, WeightsNotFoundError  # lazy: keeps `bench --help` free of torch

    from .device import DeviceError

    return UsageError, UnknownVariantError, WeightsNotFoundError, DeviceError


class Terminated(KeyboardInterrupt):
    """SIGTERM reached the runner: handled like Ctrl-C (finished runs kept), and passed on to the running child."""


def raise_terminated(signum: int, frame: object) -> None:
    raise Terminated
