"""Which errors are the user's to fix (a name, a path, a value) rather than bugs: the CLI prints them as one line,
and a run that ends with one records it without a traceback."""
from __future__ import annotations

import sys


def user_error_types() -> tuple[type[Exception], ...]:
    """Every exception type that means a mistake in the user's input rather than a bug. The models package's own
    (an unknown variant, missing weights) only where it is imported: an error of its types can come from nowhere else,
    and importing it (torch, seconds) only to tell a bad flag would slow every one-line error."""
    from ..core.errors import UsageError

    found: list[type[Exception]] = [UsageError]
    models = sys.modules.get("models")
    if models is not None and hasattr(models, "WeightsNotFoundError"):
        found += [models.UnknownVariantError, models.WeightsNotFoundError]
    return tuple(found)
