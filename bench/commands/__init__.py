"""What each CLI command does: one module per command, each with its options dataclass (filled by field name from
the parsed arguments) and a function that acts, prints and returns the exit status."""
from __future__ import annotations

