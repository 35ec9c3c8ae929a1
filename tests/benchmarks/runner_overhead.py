"""Benchmark (not a test): the runner's training epoch against a minimal hand-written PyTorch loop.

Both train the same architecture from the same initial weights on the same device-resident digits tensors,
alternating epoch by epoch so that machine noise hits both alike. The runner's epoch includes its batched
random-crop augmentation, learning-rate schedule, label smoothing and timers; the hand loop has none of them.
Run: `make overhead` (or `python -m tests.benchmarks.runner_overhead --rounds 5 --variant resnet18`).
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F

import models
from bench.data import Preprocess, load_dataset
from bench.suites import Recipe
from bench.train import make_optimizer, make_scheduler, train_epoch

CPU = torch.device("cpu")


def hand_epoch(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int,
               optimizer: torch.optim.Optimizer, generator: torch.Generator) -> None:
    """What one writes by hand: shuffle, slice, forward, loss, backward, step."""
    model.train()
    order = torch.randperm(len(labels), generator=generator)
    for start in range(0, len(labels) - len(labels) % batch, batch):
        index = order[start:start + batch]
        loss = F.cross_entropy(model(images[index]), labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="resnet18")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    recipe = Recipe(epochs=args.rounds + 1, batch_size=args.batch_size, augment="crop")
    data = load_dataset("digits", None, recipe.input_size, 0, recipe.val_fraction, CPU)
    generator = torch.Generator().manual_seed(0)
    prepare = Preprocess(data, recipe.augment, CPU, generator)
    # The hand loop gets the same images, already normalised once (no augmentation, no per-batch work).
    hand_images, hand_labels = prepare.eval(data.train.images), data.train.labels

    torch.manual_seed(0)
    runner_model = models.build(args.variant, num_classes=10)
    hand_model = copy.deepcopy(runner_model)
    runner_opt, hand_opt = make_optimizer(runner_model, recipe), make_optimizer(hand_model, recipe)
    scheduler = make_scheduler(runner_opt, recipe, len(data.train) // recipe.batch_size)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)

    def runner() -> None:
        train_epoch(runner_model, data.train.batches(recipe.batch_size, generator, drop_last=True), prepare.train,
                    runner_opt, scheduler, loss_fn, CPU)

    def hand() -> None:
        hand_epoch(hand_model, hand_images, hand_labels, recipe.batch_size, hand_opt, generator)

    runner(), hand()  # warm-up: first-call allocations and kernel selection
    print(f"{args.variant}, digits train split ({len(data.train)} images), batch {recipe.batch_size}, "
          f"{torch.get_num_threads()} threads, {args.rounds} alternating rounds")
    print(f"{'round':>5} {'hand (s)':>9} {'runner (s)':>11} {'ratio':>7}")
    ratios = []
    for r in range(1, args.rounds + 1):
        times = {}
        for name, epoch in (("hand", hand), ("runner", runner)) if r % 2 else (("runner", runner), ("hand", hand)):
            start = time.perf_counter()
            epoch()
            times[name] = time.perf_counter() - start
        ratios.append(times["runner"] / times["hand"])
        print(f"{r:>5} {times['hand']:>9.3f} {times['runner']:>11.3f} {ratios[-1]:>7.3f}")
    print(f"median ratio runner/hand: {statistics.median(ratios):.3f} "
          f"(overhead {100 * (statistics.median(ratios) - 1):+.1f}%)")


if __name__ == "__main__":
    main()
