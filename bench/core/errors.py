"""Errors that are the user's to fix, and the exit statuses: the CLI prints a one-line message, never a traceback."""
from __future__ import annotations

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # the shell's convention for a process ended by SIGINT (Ctrl-C)


class UsageError(Exception):
    """Bad input from the user (a name, a path, a value), with a message naming it and the fix."""


def error_line(exc: BaseException) -> str:
    """`Type: first line of its message`: an error raised by someone else's code (a factory, a file's content), for
    a one-line message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
