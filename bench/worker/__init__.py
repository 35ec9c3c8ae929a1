"""One run in its own process (`python -m bench.worker SPEC_JSON`): start-up that notes an early Ctrl-C (start),
the run whatever happens and its row always written (execute), the training and measuring itself (run), and what
a run writes beside its row (sinks: predictions, checkpoints, TensorBoard). Exit status 0 means a row was written
(whatever its status), 130 that the run was interrupted (row written too); anything else is a crash."""
