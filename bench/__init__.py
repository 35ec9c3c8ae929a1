"""bench: a comparative benchmarking harness for convolutional network architecture variants."""

__version__ = "0.1.0"
