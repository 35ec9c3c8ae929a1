"""Errors that are the user's to fix, and the exit statuses: the CLI prints a one-line message, never a traceback."""
from __future__ import annotations

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # the shell's convention for a process ended by SIGINT (Ctrl-C)


class UsageError(Exception):
    """Bad input from the user (a name, a path, a value), with a message naming it and the fix."""
