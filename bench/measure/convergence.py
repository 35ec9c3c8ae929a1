"""Whether a run converged, measured from its epochs rather than assumed: plateau, and time to near its best.

Pure functions of the per-epoch validation accuracies (fractions) and epoch times (seconds), in epoch order.
"""
from __future__ import annotations

import math
from typing import Sequence

PLATEAU_WINDOW = 1 / 3  # the last third of the epochs ...
PLATEAU_GAIN = 0.01  # ... may raise the best validation accuracy by at most 1 point, or by its standard error
# sqrt(p(1 - p) / n) where that is larger: on 179 validation images at 95.5% one image is 0.56 points and the
# standard error 1.55, so a rise of two images (1.1 points) at 1/100 of the learning rate is noise, not learning
NEAR_BEST = 0.95  # time_to_95pct_s: until validation accuracy first reaches 95% of the run's best
# Too short to judge: fewer epochs than this, or fewer evaluations (one per epoch) in the last third. Two epochs that
# happen to agree say nothing of a plateau; in effect a plateau is judged from 7 epochs on.
MIN_EPOCHS_TO_JUDGE = 6
MIN_WINDOW_EVALS = 3


def window(epochs: int) -> int:
    """The evaluations in the last third of `epochs` (rounded up, at least one)."""
    return max(1, math.ceil(epochs * PLATEAU_WINDOW))


def too_short(epochs: int) -> bool:
    """Whether a run of `epochs` epochs is too short for its plateau to mean anything."""
    return epochs < MIN_EPOCHS_TO_JUDGE or window(epochs) < MIN_WINDOW_EVALS


JUDGEABLE_EPOCHS = next(n for n in range(1, 1000) if not too_short(n))  # the fewest epochs judged (7)


def plateau_gain(best: float, val_images: int | None) -> float:
    """The rise over the last third that still counts as a plateau: PLATEAU_GAIN, or the binomial standard error of
    a validation accuracy of `best` measured on `val_images` images when that is larger (unknown size: the gain)."""
    if not val_images:
        return PLATEAU_GAIN
    return max(PLATEAU_GAIN, math.sqrt(best * (1 - best) / val_images))


def plateaued(val_acc: Sequence[float], val_images: int | None = None) -> bool | None:
    """True when the best validation accuracy rose by at most plateau_gain (1 point, or its standard error on
    `val_images` images when larger) over the last third of the epochs; None when the run is too short to judge."""
    n = len(val_acc)
    if too_short(n):
        return None
    return max(val_acc) - max(val_acc[: n - window(n)]) <= plateau_gain(max(val_acc), val_images) + 1e-12


def time_to_near_best(val_acc: Sequence[float], epoch_time_s: Sequence[float]) -> tuple[int, float] | tuple[None, None]:
    """(epochs, training seconds) until validation accuracy first reached NEAR_BEST of the run's best."""
    if not val_acc:
        return None, None
    target = NEAR_BEST * max(val_acc)
    for epoch, acc in enumerate(val_acc, 1):
        if acc >= target:
            return epoch, float(sum(epoch_time_s[:epoch]))
    return None, None  # unreachable: the best itself reaches the target
