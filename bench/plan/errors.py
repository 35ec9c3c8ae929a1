"""Which errors are the user's to fix (a name, a path, a value) rather than bugs: the CLI prints them as one line,
and a run that ends with one records it without a traceback."""
from __future__ import annotations


def user_error_types() -> tuple[type[Exception], ...]:
    """Every exception type that means a mistake in the user's input rather than a bug."""
    from models import UnknownVariantError, WeightsNotFoundError  # lazy: keeps `bench --help` free of torch

    from ..core.errors import UsageError

    return UsageError, UnknownVariantError, WeightsNotFoundError
