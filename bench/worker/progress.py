"""Where a run is, said to the person waiting: images done in the epoch, images/s, the run's ETA and the suite's.

On a terminal one live line, redrawn in place (at most every LIVE_EVERY_S). Off a terminal (a log file, SLURM's
output, a pipe) plain lines, never more often than every LOG_MIN_GAP_S and, during a long epoch, at least every
LOG_EVERY_S (plus the length of one training step): no carriage returns in a log.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Callable, TextIO

from ..core.child import PROGRESS_VARIABLE, SUITE_REST_VARIABLE
from ..store.metrics import duration

LIVE_EVERY_S = 0.5
LOG_EVERY_S = 20.0  # a line during an epoch when the last one is this old (the rule: at least one per 30 s)
LOG_MIN_GAP_S = 10.0  # and never two lines closer than this


class Progress:
    """The progress of one run of `epochs` epochs of `images_per_epoch` training images each.

    `suite_rest_s` is the runner's estimate of the suite's runs after this one (None: not known yet); `live` draws
    one line in place (a terminal), else plain lines by the log rule; `clock` is time.monotonic, or a test's."""

    def __init__(self, name: str, epochs: int, images_per_epoch: int, stream: TextIO, live: bool,
                 suite_rest_s: float | None = None, clock: Callable[[], float] = time.monotonic, done: int = 0) -> None:
        self.name, self.epochs, self.per_epoch = name, epochs, max(images_per_epoch, 1)
        self.stream, self.live, self.suite_rest_s, self.clock = stream, live, suite_rest_s, clock
        self.started = clock()
        self.first_step: float | None = None  # training's first step (after data, profiling and warm-up)
        self.epoch, self.done_epochs = done + 1, done
        self.epoch_started = self.last_epoch_end = self.started
        self.resumed = done  # epochs a resumed run had finished before this process: not part of its pace
        self.images, self.last_line = 0, self.started  # the data summary was the last line
        self.val_acc: float | None = None

    @classmethod
    def for_worker(cls, name: str, epochs: int, images_per_epoch: int, stream: TextIO = sys.stderr, done: int = 0
                   ) -> Progress:
        """Live on a terminal unless the runner asks for lines (several runs share the terminal); the suite's
        remaining time from the runner's estimate; `done` epochs finished before (a resumed run)."""
        rest = os.environ.get(SUITE_REST_VARIABLE)
        live = stream.isatty() and os.environ.get(PROGRESS_VARIABLE) != "lines"
        return cls(name, epochs, images_per_epoch, stream, live, float(rest) if rest else None, done=done)

    # What the training loop tells it.
    def step(self, epoch: int, images: int) -> None:
        now = self.clock()
        if self.first_step is None:
            self.first_step = self.epoch_started = now
        if epoch != self.epoch:
            self.epoch, self.epoch_started = epoch, now
        self.images = images
        if now - self.last_line >= (LIVE_EVERY_S if self.live else LOG_EVERY_S) and self.rate(now):
            self.say(self.text(now), now)

    def epoch_done(self, epoch: int, val_acc: float, summary: str) -> None:
        """After epoch `epoch`'s training and validation; `summary` is its one-line result."""
        now = self.clock()
        self.done_epochs, self.val_acc, self.last_epoch_end = epoch, val_acc, now
        self.epoch, self.epoch_started, self.images = epoch + 1, now, 0
        if self.live or now - self.last_line >= LOG_MIN_GAP_S:
            self.say(f"{self.name} epoch {epoch}/{self.epochs}: {summary}; {self.etas(now)}", now)

    def finish(self, text: str) -> None:
        """The run's last line (after its test pass): ends the live line."""
        if self.live:
            self.stream.write("\r\x1b[K")
        print(f"{self.name}: {text} in {duration(self.clock() - self.started)}", file=self.stream, flush=True)

    # How it is said.
    def run_eta_s(self, now: float) -> float | None:
        """Seconds left in this run: whole epochs at the measured pace of the finished ones (training and
        validation); within the first epoch, the images left at this epoch's images/s."""
        left = self.epochs - self.done_epochs - (self.images / self.per_epoch if self.epoch > self.done_epochs else 0)
        if self.done_epochs > self.resumed:
            pace_s = (self.last_epoch_end - (self.first_step or self.started)) / (self.done_epochs - self.resumed)
            return max(0.0, left) * pace_s
        rate = self.rate(now)
        return left * self.per_epoch / rate if rate else None

    def rate(self, now: float) -> float | None:
        elapsed = now - self.epoch_started
        return self.images / elapsed if self.images and elapsed > 0 else None

    def etas(self, now: float) -> str:
        run = self.run_eta_s(now)
        text = f"run ETA {duration(run)}"
        if self.suite_rest_s is not None:
            text += f", suite ETA {duration(None if run is None else run + self.suite_rest_s)}"
        return text

    def text(self, now: float) -> str:
        rate = self.rate(now)
        parts = [f"{self.name} epoch {self.epoch}/{self.epochs}: {self.images:,}/{self.per_epoch:,} images",
                 f"{rate:,.0f} images/s" if rate else "– images/s"]
        if self.val_acc is not None:
            parts.append(f"val acc {self.val_acc:.1%} after epoch {self.done_epochs}")
        return ", ".join(parts) + f"; {self.etas(now)}"

    def say(self, text: str, now: float) -> None:
        self.last_line = now
        if self.live:
            self.stream.write(f"\r\x1b[K{text}")
            self.stream.flush()
        else:
            print(text, file=self.stream, flush=True)
