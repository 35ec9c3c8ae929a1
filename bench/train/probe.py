"""The memory format a run trains in, chosen by measurement: a few warm training steps in each candidate format,
timed in alternating rounds, and the faster one wins. Pure compute; the worker caches the answer per variant, device,
batch and software (bench.worker.speed_choice) so that a suite's seeds do not pay for it again.

Why measure: no format wins everywhere. On a 2-core CPU mobilenet_v2 trains about 3× faster in channels_last, while
small-kernel nets gain little; on GPUs channels_last pays only with tensor cores (make speed, README). The precision is
never chosen here (bench.store.speed says why).
"""
from __future__ import annotations

import copy
import dataclasses
import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

from ..config.recipe import Recipe
from ..data.augment import Preprocess
from ..data.base import DataSet
from .loop import warm_up
from .schedule import make_optimizer
from .speed import Speed

PROBE_ROUNDS = 3  # rounds of each candidate, alternating; the first is a warm-up and not counted
PROBE_STEPS = 2  # training steps per round: 4 timed steps per format, 12 steps in all


@dataclass(frozen=True)
class Choice:
    """The measured step time of each candidate format (channels_last → seconds per step) and the faster one."""

    step_s: dict[bool, float]
    probe_s: float  # what the probe itself took (0 when the choice was read from a cache)

    @property
    def channels_last(self) -> bool:
        return min(self.step_s, key=lambda cl: (self.step_s[cl], cl))  # a tie keeps NCHW (False sorts first)


def probe_memory_format(model: nn.Module, data: DataSet, recipe: Recipe, speed: Speed,
                        rounds: int = PROBE_ROUNDS, steps: int = PROBE_STEPS) -> Choice:
    """Time training steps of a copy of `model` (before training: it is left untouched, as are every random
    generator) in NCHW and in channels_last, on batches of the recipe's size and shape, in `rounds` alternating
    rounds of `steps` steps; each format's figure is the median step over all but the first round. The steps are the
    training's own (optimizer, loss, precision, eager: a compiled step would compile once per format)."""
    started = time.perf_counter()
    device = speed.device
    shape = (recipe.batch_size, 3, recipe.input_size, recipe.input_size)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    candidates = {}
    for channels_last in (False, True):
        mine = dataclasses.replace(speed, channels_last=channels_last, compile="off")
        copied = mine.model(copy.deepcopy(model))
        prepare = Preprocess(data, recipe.augment, device, torch.Generator(device=device).manual_seed(0))
        candidates[channels_last] = (copied, make_optimizer(copied, recipe), mine.scaler(),
                                     mine.images(prepare.train), mine.autocast)
    times: dict[bool, list[float]] = {False: [], True: []}
    for r in range(rounds):
        for channels_last in ((False, True) if r % 2 == 0 else (True, False)):
            copied, optimizer, scaler, images, autocast = candidates[channels_last]
            step_times = warm_up(copied, copied, optimizer, scaler, loss_fn, images, shape, data.num_classes,
                                 device, steps, autocast)
            if r > 0:
                times[channels_last] += step_times
    return Choice({cl: statistics.median(t) for cl, t in times.items()}, time.perf_counter() - started)
