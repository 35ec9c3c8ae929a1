"""The training and evaluation loops: pure compute, no I/O, and no host sync inside the step loop.

`fit` is the whole training of one run, one epoch result at a time; the worker around it does the writing.
"""
from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass
from typing import Callable, ContextManager, Iterable, Iterator

import torch
from torch import nn

from ..config.recipe import Recipe
from ..core.device import Stopwatch, synchronize, untouched_rng
from ..data.augment import Preprocess
from ..data.base import Batch, DataSet
from .schedule import make_optimizer, make_scheduler
from .speed import Speed
from .state import Training

WARMUP_STEPS = 3  # untimed training steps before epoch 1 (see warm_up)
NO_CONTEXT: Callable[[], ContextManager] = contextlib.nullcontext


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


def backward_and_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                      scaler: torch.amp.GradScaler | None = None) -> None:
    """Gradients of `loss` and one optimizer step; through fp16's gradient scaler when it is enabled."""
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None and scaler.is_enabled():
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()


def train_epoch(model: nn.Module, batches: Iterable[Batch], prepare: Callable[[torch.Tensor], torch.Tensor],
                optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
                loss_fn: nn.Module, device: torch.device, autocast: Callable[[], ContextManager] = NO_CONTEXT,
                scaler: torch.amp.GradScaler | None = None, mark_step: Callable[[], None] | None = None,
                on_step: Callable[[int], None] | None = None) -> TrainResult:
    """One pass over `batches`; loss and accuracy accumulate on the device and are read once at the end.

    `autocast` is the forward pass's precision context, `scaler` fp16's gradient scaler, `mark_step` the
    marker CUDA-graph replays need between steps, `on_step(images so far)` hears of the epoch's start (0) and of each
    step (host counts only: nothing is read from the device for it)."""
    model.train()
    watch = Stopwatch(device)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    start = time.perf_counter()
    if on_step:
        on_step(0)  # the epoch begins
    for images, labels in timed(batches, prepare, watch):
        if mark_step:
            mark_step()
        with autocast():
            logits = model(images)
            loss = loss_fn(logits, labels)
        backward_and_step(loss, optimizer, scaler)
        scheduler.step()
        loss_sum += loss.detach() * len(labels)
        correct += (logits.detach().argmax(1) == labels).sum()
        seen += len(labels)
        if on_step:
            on_step(seen)
    synchronize(device)
    elapsed = time.perf_counter() - start
    loss_mean = loss_sum.item() / max(seen, 1)
    if not math.isfinite(loss_mean):
        raise Diverged(f"training loss became {loss_mean} during the epoch")
    return TrainResult(loss_mean, correct.item() / max(seen, 1), seen, elapsed, watch.total_s())


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable[Batch], prepare: Callable[[torch.Tensor], torch.Tensor],
             loss_fn: nn.Module, num_classes: int, device: torch.device, keep_predictions: bool = False,
             autocast: Callable[[], ContextManager] = NO_CONTEXT) -> EvalResult:
    """Loss, accuracy and confusion counts in eval mode (plain cross-entropy, no smoothing); with
    `keep_predictions`, also each image's label, predicted class and its probability, in split order."""
    model.eval()
    loss_sum = torch.zeros((), device=device)
    confusion = torch.zeros(num_classes * num_classes, dtype=torch.int64, device=device)
    kept: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    for images, labels in batches:
        with autocast():
            logits = model(prepare(images))
            loss_sum += loss_fn(logits, labels).float() * len(labels)
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
                        max_batches: int, autocast: Callable[[], ContextManager] = NO_CONTEXT) -> None:
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
            with autocast():
                model(prepare(images))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum


def warm_up(model: nn.Module, step_model: nn.Module, optimizer: torch.optim.Optimizer,
            scaler: torch.amp.GradScaler, loss_fn: nn.Module, prepare: Callable[[torch.Tensor], torch.Tensor],
            batch_shape: tuple[int, ...], num_classes: int, device: torch.device, steps: int = WARMUP_STEPS,
            autocast: Callable[[], ContextManager] = NO_CONTEXT, mark_step: Callable[[], None] | None = None
            ) -> list[float]:
    """Untimed training steps through `step_model` (the model, or its compiled form) on synthetic batches of the
    real shape; returns each step's seconds.

    Pays the one-off costs (compilation, CUDA-graph capture, allocator growth, cuDNN autotuning, lazy
    initialisation) before the first timed epoch, so that epoch 1 is comparable with the rest. The weights,
    buffers, optimizer and scaler state are restored in place afterwards (so compiled graphs stay valid) and
    every random generator is left as it was: the run trains bit for bit as it would without the warm-up.
    """
    if steps <= 0:
        return []
    saved = (copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict()), scaler.state_dict())
    times = []
    with untouched_rng(device):
        images = torch.randint(0, 256, batch_shape, dtype=torch.uint8, device=device)
        labels = torch.randint(0, num_classes, batch_shape[:1], device=device)
        step_model.train()
        for _ in range(steps):
            start = time.perf_counter()
            if mark_step:
                mark_step()
            with autocast():
                loss = loss_fn(step_model(prepare(images)), labels)
            backward_and_step(loss, optimizer, scaler)
            synchronize(device)
            times.append(time.perf_counter() - start)
    model.load_state_dict(saved[0])
    optimizer.load_state_dict(saved[1])
    if saved[2]:
        scaler.load_state_dict(saved[2])
    optimizer.zero_grad(set_to_none=True)
    return times


def compile_seconds(step_times: list[float], compiling: bool) -> float | None:
    """What compilation (and graph capture) cost beyond ordinary steps: the warm-up's time minus as many steady
    steps (its last); None when nothing was compiled."""
    if not compiling or not step_times:
        return None
    return max(0.0, sum(step_times) - len(step_times) * step_times[-1])


@dataclass
class EpochResult:
    """One epoch of `fit`, with two facts of the whole run repeated on each (they are known before epoch 1)."""

    epoch: int
    train: TrainResult
    val: EvalResult
    lr: float  # at the end of the epoch
    compile_s: float | None  # seconds the warm-up spent compiling; None when not compiled
    training_started: float  # time.time() when this process's first epoch began
    training: Training  # the state after this epoch: training.state_dict(epoch) before asking for the next


def eval_batch_size(recipe: Recipe) -> int:
    return max(256, recipe.batch_size)


def fit(model: nn.Module, data: DataSet, recipe: Recipe, device: torch.device, seed: int,
        warmup_steps: int = WARMUP_STEPS, around_training: Callable[[], ContextManager] = NO_CONTEXT,
        speed: Speed | None = None, on_step: Callable[[int, int], None] | None = None,
        resume: dict | None = None, last_epoch: int | None = None) -> Iterator[EpochResult]:
    """Train `model` (in place) on `data` under `recipe`, yielding each epoch's training and validation result.

    `speed` is the run's speed settings, resolved once by the caller from the recipe (default: resolved here) and
    applied to the model, its batches and its steps; the caller has set the backends. Data order and augmentation
    depend on `seed` only. `around_training` wraps each epoch's training pass (e.g. a utilisation sampler);
    `on_step(epoch, images so far in it)` hears of each training step (progress); the caller may stop early simply
    by not asking for the next epoch. `resume` is a state taken after an epoch (Training.state_dict): training goes
    on from the next epoch exactly as if it had never stopped; `last_epoch` (default the recipe's) ends it sooner."""
    if speed is None:
        speed = Speed.of(recipe, device)
        speed.apply_backends()
    speed.model(model)
    generator = torch.Generator(device=device).manual_seed(seed)  # data order + augmentation: same per seed
    prepare = Preprocess(data, recipe.augment, device, generator)
    train_images, eval_images = speed.images(prepare.train), speed.images(prepare.eval)
    optimizer = make_optimizer(model, recipe)
    scheduler = make_scheduler(optimizer, recipe, len(data.train) // recipe.batch_size)
    scaler = speed.scaler()
    train_loss = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    eval_loss = nn.CrossEntropyLoss()
    step_model = speed.compiled(model)
    mark_step = torch.compiler.cudagraph_mark_step_begin if speed.cuda_graphs else None
    # Its own generator: the warm-up must not draw from the run's.
    warmup_prepare = Preprocess(data, recipe.augment, device, torch.Generator(device=device).manual_seed(0))
    step_times = warm_up(model, step_model, optimizer, scaler, train_loss, speed.images(warmup_prepare.train),
                         (recipe.batch_size, 3, recipe.input_size, recipe.input_size), data.num_classes, device,
                         warmup_steps, speed.autocast, mark_step)
    compile_s = compile_seconds(step_times, speed.compile != "off")
    training = Training(model, optimizer, scheduler, scaler, generator, device)
    done = training.load_state_dict(resume) if resume is not None else 0
    started = time.time()
    for epoch in range(done + 1, (recipe.epochs if last_epoch is None else last_epoch) + 1):
        with around_training():
            tr = train_epoch(step_model, data.train.batches(recipe.batch_size, generator, drop_last=True),
                             train_images, optimizer, scheduler, train_loss, device, speed.autocast, scaler, mark_step,
                             (lambda seen, epoch=epoch: on_step(epoch, seen)) if on_step else None)
        recompute_batchnorm(model, data.train.batches(recipe.batch_size), eval_images, recipe.precise_bn_batches,
                            speed.autocast)
        va = evaluate(model, data.val.batches(eval_batch_size(recipe)), eval_images, eval_loss, data.num_classes,
                      device, autocast=speed.autocast)
        yield EpochResult(epoch, tr, va, optimizer.param_groups[0]["lr"], compile_s, started, training)


def test(model: nn.Module, data: DataSet, recipe: Recipe, device: torch.device, speed: Speed | None = None
         ) -> EvalResult:
    """The test split, read once, under the run's precision and memory format, with each image's prediction."""
    speed = speed or Speed.of(recipe, device)
    prepare = Preprocess(data, "none", device, torch.Generator(device=device))
    return evaluate(model, data.test.batches(eval_batch_size(recipe)), speed.images(prepare.eval),
                    nn.CrossEntropyLoss(), data.num_classes, device, keep_predictions=True, autocast=speed.autocast)
