"""`python -m bench.worker SPEC_JSON`: the worker process of one run."""
import sys

from .start import die_with_parent, note_early_signals

note_early_signals()
die_with_parent()

from .execute import main  # noqa: E402  (after the early handlers: this imports torch)

sys.exit(main())
