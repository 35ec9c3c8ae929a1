"""Errors that are the user's to fix: the CLI prints their one-line message and exits 2, never a traceback."""


class UsageError(Exception):
    """Bad input from the user (a name, a path, a value), with a message naming it and the fix."""
