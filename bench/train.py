"""The training and evaluation loops: pure compute, no I/O, and no host sync inside the step loop."""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import torch
from torch import nn

from .data import Batch
from .device import Stopwatch, synchronize, untouched_rng
from .suites import Recipe


class Diverged(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclass
class TrainResult:
    """One training epoch: mean loss and accuracy over its images, and where the time went."""

    loss: float
    acc: float
    images: int
    time_s: float
    data_time_s: float


@dataclass
class EvalResult:
    """Mean loss, accuracy and the confusion counts (true × predicted) over one split."""

    loss: float
    acc: float
    confusion: torch.Tensor
    labels: torch.Tensor | None = None  # per image, in split order (with keep_predictions)
    predicted: torch.Tensor | None = None
    probability: torch.Tensor | None = None  # softmax probability of the predicted class


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
    raise ValueError(f"unknown schedule '{schedule}'; use cosine, step or constant")


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int
                   ) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step schedule over the recipe's epochs; the warm-up is capped at warmup_max_fraction of the steps,
    so a short run still spends most of its steps at a useful learning rate."""
    total = recipe.epochs * steps_per_epoch
    warmup = min(int(recipe.warmup_epochs * steps_per_epoch), int(recipe.warmup_max_fraction * total))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, total, warmup, recipe.schedule))


def timed(batches: Iterable[Batch], prepare: Callable[[torch.Tensor], torch.Tensor], watch: Stopwatch
          ) -> Iterator[Batch]:
    """Yield prepared batches, timing the fetching and preparing of each with `watch`."""
    iterator = iter(batches)
    while True:
        watch.start()
        try:
            images, labels = next(iterator)
        except StopIteration:
            watch.stop()
            return
        images = prepare(images)
        watch.stop()
        yield images, labels


def train_epoch(model: nn.Module, batches: Iterable[Batch], prepare: Callable[[torch.Tensor], torch.Tensor],
                optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
                loss_fn: nn.Module, device: torch.device) -> TrainResult:
    """One pass over `batches`; loss and accuracy accumulate on the device and are read once at the end."""
    model.train()
    watch = Stopwatch(device)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    start = time.perf_counter()
    for images, labels in timed(batches, prepare, watch):
        logits = model(images)
        loss = loss_fn(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        loss_sum += loss.detach() * len(labels)
        correct += (logits.detach().argmax(1) == labels).sum()
        seen += len(labels)
    synchronize(device)
    elapsed = time.perf_counter() - start
    loss_mean = loss_sum.item() / max(seen, 1)
    if not math.isfinite(loss_mean):
        raise Diverged(f"training loss became {loss_mean} during the epoch")
    return TrainResult(loss_mean, correct.item() / max(seen, 1), seen, elapsed, watch.total_s())


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable[Batch], prepare: Callable[[torch.Tensor], torch.Tensor],
             loss_fn: nn.Module, num_classes: int, device: torch.device, keep_predictions: bool = False
             ) -> EvalResult:
    """Loss, accuracy and confusion counts in eval mode (plain cross-entropy, no smoothing); with
    `keep_predictions`, also each image's label, predicted class and its probability, in split order."""
    model.eval()
    loss_sum = torch.zeros((), device=device)
    confusion = torch.zeros(num_classes * num_classes, dtype=torch.int64, device=device)
    kept: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    for images, labels in batches:
        logits = model(prepare(images))
        loss_sum += loss_fn(logits, labels) * len(labels)
        predicted = logits.argmax(1)
        confusion += torch.bincount(labels * num_classes + predicted, minlength=num_classes**2)
        if keep_predictions:
            kept.append((labels, predicted, logits.float().softmax(1).gather(1, predicted[:, None])[:, 0]))
    confusion = confusion.view(num_classes, num_classes).cpu()
    seen = int(confusion.sum())
    result = EvalResult(loss_sum.item() / max(seen, 1), int(confusion.trace()) / max(seen, 1), confusion)
    if keep_predictions and kept:
        result.labels, result.predicted, result.probability = (torch.cat(t).cpu() for t in zip(*kept))
    return result


@torch.no_grad()
def recompute_batchnorm(model: nn.Module, batches: Iterable[Batch], prepare: Callable[[torch.Tensor], torch.Tensor],
                        max_batches: int) -> None:
    """Precise BatchNorm: replace the running statistics by their plain average over up to `max_batches`
    training batches under the current weights (train-mode forward passes, no gradient, no weight change).

    Running averages lag weights that still move fast, which in short runs leaves eval-mode accuracy at
    chance while training accuracy climbs (Wu & Johnson 2021, "Rethinking 'Batch' in BatchNorm")."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms or max_batches <= 0:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    model.train()
    device = next(model.parameters()).device
    with untouched_rng(device):  # dropout draws here must not shift the training's
        for i, (images, _) in enumerate(batches):
            if i == max_batches:
                break
            model(prepare(images))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum


def warm_up(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: nn.Module,
            prepare: Callable[[torch.Tensor], torch.Tensor], batch_shape: tuple[int, ...], num_classes: int,
            device: torch.device, steps: int = 3) -> None:
    """Untimed training steps on deep copies of the model and optimizer, with synthetic batches of the real shape.

    Pays the one-off costs (allocator growth, cuDNN autotuning, lazy initialisation) before the first timed
    epoch, so that epoch 1 is comparable with the rest. The real model, optimizer and every random generator
    are left exactly as they were: the run trains bit for bit as it would without the warm-up.
    """
    if steps <= 0:
        return
    with untouched_rng(device):
        twin_model, twin_optimizer = copy.deepcopy((model, optimizer))
        twin_model.train()
        images = torch.randint(0, 256, batch_shape, dtype=torch.uint8, device=device)
        labels = torch.randint(0, num_classes, batch_shape[:1], device=device)
        for _ in range(steps):
            loss = loss_fn(twin_model(prepare(images)), labels)
            twin_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            twin_optimizer.step()
        synchronize(device)
    del twin_model, twin_optimizer
