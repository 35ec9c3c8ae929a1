"""The optimizer and the per-step learning-rate schedule of a recipe."""
from __future__ import annotations

import math

import torch
from torch import nn

from ..config.recipe import SCHEDULES, Recipe


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """SGD with the recipe's momentum, Nesterov flag and weight decay."""
    return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov,
                           weight_decay=recipe.weight_decay)


def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """The learning-rate multiplier at `step` of `total`: linear warm-up over `warmup` steps, then the schedule."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "step":
        return 0.1 ** ((progress >= 0.5) + (progress >= 0.75))
    if schedule == "constant":
        return 1.0
    raise ValueError(f"unknown schedule '{schedule}'; use {', '.join(SCHEDULES)}")


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int
                   ) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step schedule over the recipe's epochs; the warm-up is capped at warmup_max_fraction of the steps,
    so a short run still spends most of its steps at a useful learning rate."""
    total = recipe.epochs * steps_per_epoch
    warmup = min(int(recipe.warmup_epochs * steps_per_epoch), int(recipe.warmup_max_fraction * total))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, total, warmup, recipe.schedule))
