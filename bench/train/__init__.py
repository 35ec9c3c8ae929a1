"""Training as pure compute: the `fit` loop and evaluation (loop), the optimizer and schedule (schedule), and the
speed settings applied to a model and its steps (speed). No file is read or written here."""
