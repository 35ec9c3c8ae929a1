"""The training loop's pieces: schedule, confusion counts by hand, divergence, and loss going down."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bench.core.device import Stopwatch
from bench.config.recipe import Recipe
from bench.train.loop import Diverged, evaluate, recompute_batchnorm, timed, train_epoch
from bench.train.schedule import lr_factor, make_optimizer, make_scheduler

CPU = torch.device("cpu")


def test_schedule_warms_up_then_follows_cosine_and_steps():
    assert lr_factor(0, 100, 10, "cosine") == pytest.approx(0.1)
    assert lr_factor(9, 100, 10, "cosine") == pytest.approx(1.0)
    assert lr_factor(55, 100, 10, "cosine") == pytest.approx(0.5)  # halfway through the 90 post-warm-up steps
    assert lr_factor(99, 100, 10, "cosine") == pytest.approx(0.5 * (1 + math.cos(math.pi * 89 / 90)))
    assert [lr_factor(s, 100, 0, "step") for s in (0, 50, 75)] == pytest.approx([1, 0.1, 0.01])


class Lookup(nn.Module):
    """Predicts class `table[x]` for inputs that carry their index in their first pixel."""

    def __init__(self, table: list[int], classes: int) -> None:
        super().__init__()
        self.table, self.classes = torch.tensor(table), classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(self.table[x[:, 0, 0, 0].long()], self.classes).float() * 10


def test_confusion_counts_by_hand():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    predicted = [0, 1, 1, 1, 0, 2]
    images = torch.arange(6, dtype=torch.float).view(6, 1, 1, 1)
    result = evaluate(Lookup(predicted, 3), [(images[:4], labels[:4]), (images[4:], labels[4:])], lambda x: x,
                      nn.CrossEntropyLoss(), 3, CPU)
    assert result.confusion.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert result.acc == pytest.approx(4 / 6)


def batches_of(x: torch.Tensor, y: torch.Tensor, size: int):
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(y), size)]


def test_training_reduces_loss_on_separable_data():
    torch.manual_seed(0)
    x, y = torch.randn(256, 3, 4, 4), torch.randint(0, 2, (256,))
    x[y == 1] += 1.5
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 2))
    recipe = Recipe(epochs=5, lr=0.1, warmup_epochs=0)
    opt = make_optimizer(model, recipe)
    sched = make_scheduler(opt, recipe, steps_per_epoch=8)
    losses = [train_epoch(model, batches_of(x, y, 32), lambda b: b, opt, sched, nn.CrossEntropyLoss(), CPU)
              for _ in range(5)]
    assert losses[-1].loss < 0.5 * losses[0].loss and losses[-1].acc > 0.9
    assert losses[0].images == 256 and 0 <= losses[0].data_time_s <= losses[0].time_s


def test_non_finite_loss_is_divergence():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    nn.init.constant_(model[1].weight, float("nan"))
    recipe = Recipe(epochs=1)
    opt = make_optimizer(model, recipe)
    with pytest.raises(Diverged):
        train_epoch(model, [(torch.randn(8, 1, 2, 2), torch.zeros(8, dtype=torch.long))], lambda b: b, opt,
                    make_scheduler(opt, recipe, 1), nn.CrossEntropyLoss(), CPU)


def test_timed_counts_every_batch_once():
    watch = Stopwatch(CPU)
    out = list(timed([(torch.ones(1), torch.ones(1))] * 3, lambda b: b * 2, watch))
    assert len(out) == 3 and torch.equal(out[0][0], torch.full((1,), 2.0))
    assert len(watch._pairs) == 4 and watch.total_s() >= 0  # three batches and the final StopIteration


def test_the_warm_up_never_takes_more_than_its_share_of_a_short_run():
    # 2 epochs of 10 steps: a one-epoch warm-up would be half the run; capped at 20%, it is 4 steps.
    model = nn.Linear(2, 2)
    recipe = Recipe(epochs=2, lr=1.0, warmup_epochs=1.0, warmup_max_fraction=0.2, schedule="constant")
    opt = make_optimizer(model, recipe)
    sched = make_scheduler(opt, recipe, steps_per_epoch=10)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:5] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0])
    long = Recipe(epochs=10, lr=1.0, warmup_epochs=1.0, schedule="constant")  # 1 epoch = 10% < 20%: kept whole
    sched = make_scheduler(make_optimizer(model, long), long, steps_per_epoch=10)
    assert sched.lr_lambdas[0](8) == pytest.approx(0.9) and sched.lr_lambdas[0](9) == pytest.approx(1.0)


def test_precise_batchnorm_is_the_plain_average_over_the_batches():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 1, bias=False), nn.BatchNorm2d(4))
    batches = [(torch.randn(8, 3, 5, 5) * (i + 1), torch.zeros(8)) for i in range(3)]
    weights = net[0].weight.detach().clone()
    recompute_batchnorm(net, batches, lambda x: x, max_batches=2)
    outputs = [torch.nn.functional.conv2d(x, weights) for x, _ in batches[:2]]
    mean = torch.stack([o.mean((0, 2, 3)) for o in outputs]).mean(0)  # equal-sized batches: mean of means
    var = torch.stack([o.var((0, 2, 3), unbiased=True) for o in outputs]).mean(0)
    assert torch.allclose(net[1].running_mean, mean, atol=1e-5)
    assert torch.allclose(net[1].running_var, var, rtol=1e-4)
    assert net[1].momentum == 0.1 and torch.equal(net[0].weight, weights)  # momentum restored, weights untouched
