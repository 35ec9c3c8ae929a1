"""Benchmark (not a test): images/s of the harness's training step against a minimal hand-written loop.

For each variant × batch × speed setting, the harness trains through `bench.train.fit` (its real step: timers,
schedule, label smoothing, loss and accuracy kept on the device, gradient scaler, precision, memory format,
compile) and a hand loop trains a copy of the same initial model with the same settings written out by hand.
A second table checks the memory format a run chooses by default (bench.train.probe: a few timed steps in each):
per variant, batch and precision, the harness trains in NCHW, in channels_last and in its own choice, epochs in turn,
and the choice's images/s is set beside the faster fixed format's (the choice never lowers the precision:
bench.store.speed).
Epochs alternate between the two so that machine noise hits both alike; each cell reports the median images/s
over the timed rounds and the ratio harness / hand. Both read the same device-resident synthetic uint8 batches
and normalise each batch on the device; augmentation is off in both (it is the recipe's work, not overhead).
Figures are printed, never asserted. Run: `make speed`, or e.g.
`python -m tests.benchmarks.training_speed --variants resnet18 --batches 64 --settings fp32,bf16+cl`.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import statistics
import sys
import time
from collections import Counter

import torch
import torch.nn.functional as F

import models
from bench.data.augment import normalize
from bench.data.base import DataSet, TensorSource
from bench.core.device import device_name, resolve_device, synchronize
from bench.config.recipe import Recipe
from bench.train.loop import fit
from bench.train.probe import probe_memory_format
from bench.train.speed import Speed

VARIANTS = ["resnet18", "resnet18-stem3", "resnet18-cifar", "mobilenet_v2"]
# A setting: precision, then "+cl" for channels_last, "+ro" for torch.compile(mode="reduce-overhead").
GPU_SETTINGS = ["fp32", "fp32+cl", "tf32", "tf32+cl", "bf16", "bf16+cl", "fp16", "fp16+cl"]
CPU_SETTINGS = ["fp32", "fp32+cl", "bf16", "bf16+cl"]  # tf32 computes as fp32 on a CPU; fp16 matmuls are slow
COMPILED = "tf32+cl+ro"  # the compiled cell, at the smallest batch (where launch overhead matters)


def parse_setting(text: str) -> tuple[str, bool, str]:
    precision, *flags = text.split("+")
    return precision, "cl" in flags, "reduce-overhead" if "ro" in flags else "off"


def synthetic(images: int, size: int, device: torch.device) -> DataSet:
    """Random uint8 images on the device (a 1-image validation and test split: fit evaluates each epoch)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (images, 3, size, size), generator=g, dtype=torch.uint8).to(device)
    y = (torch.arange(images) % 10).to(device)
    one = TensorSource(x[:1], y[:1])
    return DataSet("synthetic", [str(i) for i in range(10)], TensorSource(x, y), one, one, (0.5,) * 3, (0.25,) * 3,
                   hflip=False, synthetic=True, sizes=Counter(), modes=Counter())


def hand_loop(model: torch.nn.Module, data: DataSet, recipe: Recipe, device: torch.device):
    """What one writes by hand with the same settings: a generator of (images, seconds) per epoch."""
    precision, cl = recipe.precision, recipe.channels_last
    if hasattr(torch.backends, "fp32_precision"):
        mode = "tf32" if precision == "tf32" else "ieee"
        torch.backends.cuda.matmul.fp32_precision = torch.backends.cudnn.conv.fp32_precision = mode
    torch.backends.cudnn.benchmark = device.type == "cuda"
    model = model.to(device)
    if cl:
        model = model.to(memory_format=torch.channels_last)
    step_model = torch.compile(model, mode=recipe.compile) if recipe.compile != "off" else model
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum, nesterov=True,
                                weight_decay=recipe.weight_decay)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    mean = torch.tensor(data.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(data.std, device=device).view(1, 3, 1, 1)
    images, labels = data.train.images, data.train.labels
    cudagraphs = recipe.compile == "reduce-overhead" and device.type == "cuda"
    model.train()

    def epoch(steps: int) -> None:
        order = torch.randperm(len(labels), device=device)
        for i in range(steps):
            index = order[i * recipe.batch_size:(i + 1) * recipe.batch_size]
            x = normalize(images[index], mean, std)
            if cl:
                x = x.contiguous(memory_format=torch.channels_last)
            if cudagraphs:
                torch.compiler.cudagraph_mark_step_begin()
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                loss = F.cross_entropy(step_model(x), labels[index])
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()

    epoch(3)  # untimed warm-up, as the harness does (compilation happens here)
    steps = len(labels) // recipe.batch_size
    while True:
        synchronize(device)
        start = time.perf_counter()
        epoch(steps)
        synchronize(device)
        yield steps * recipe.batch_size, time.perf_counter() - start


def measure_automatic(variant: str, batch: int, precision: str, steps: int, rounds: int, device: torch.device
                      ) -> tuple[bool, float, float, float]:
    """(the format measurement chose, and the median images/s of the harness in it, in NCHW and in channels_last),
    over `rounds` epochs of each taken in turn, from one initial model."""
    base = Recipe(epochs=rounds + 1, batch_size=batch, lr=0.01, warmup_epochs=0, augment="none", precise_bn_batches=0,
                  precision=precision, channels_last=None)
    data = synthetic(batch * steps, base.input_size, device)
    torch.manual_seed(0)
    model = models.build(variant, num_classes=10)
    speed = Speed(device, precision)
    speed.apply_backends()
    chosen = probe_memory_format(model, data, base, speed).channels_last  # as the worker does by default
    loops = {name: fit(copy.deepcopy(model), data, dataclasses.replace(base, channels_last=cl), device, seed=0)
             for name, cl in (("auto", chosen), ("nchw", False), ("cl", True))}
    for loop in loops.values():
        next(loop)  # a first epoch each, untimed
    rates: dict[str, list[float]] = {name: [] for name in loops}
    for r in range(rounds):
        for name in (list(loops) if r % 2 == 0 else list(loops)[::-1]):
            result = next(loops[name]).train
            rates[name].append(result.images / result.time_s)
    return chosen, *(statistics.median(rates[name]) for name in ("auto", "nchw", "cl"))


def print_automatic(variants: list[str], batches: list[int], precisions: list[str], images: int, rounds: int,
                    device: torch.device) -> None:
    print("\nThe memory format chosen by measurement against the faster fixed one (harness images/s, epochs in "
          "turn):\n", flush=True)
    print("| variant | batch | precision | chose | chosen img/s | NCHW img/s | channels_last img/s | chosen / best |\n"
          "|---|---:|---|---|---:|---:|---:|---:|", flush=True)
    for variant in variants:
        for batch in batches:
            for precision in precisions:
                start = time.perf_counter()
                chosen, auto, nchw, cl = measure_automatic(variant, batch, precision, max(1, images // batch),
                                                           rounds, device)
                print(f"| {variant} | {batch} | {precision} | {'channels_last' if chosen else 'NCHW'} | {auto:,.0f} | "
                      f"{nchw:,.0f} | {cl:,.0f} | {auto / max(nchw, cl):.2f} |  {time.perf_counter() - start:.0f} s",
                      flush=True)


def measure(variant: str, batch: int, setting: str, steps: int, rounds: int, device: torch.device
            ) -> tuple[float, float]:
    """Median images/s of (harness, hand loop) over `rounds` alternating epochs of `steps` steps."""
    precision, cl, compile_mode = parse_setting(setting)
    recipe = Recipe(epochs=rounds + 1, batch_size=batch, lr=0.01, warmup_epochs=0, augment="none", label_smoothing=0.1,
                    precise_bn_batches=0, precision=precision, channels_last=cl, compile=compile_mode)
    data = synthetic(batch * steps, recipe.input_size, device)
    torch.manual_seed(0)
    harness_model = models.build(variant, num_classes=10)
    hand_model = copy.deepcopy(harness_model)
    harness = fit(harness_model, data, recipe, device, seed=0)
    hand = hand_loop(hand_model, data, recipe, device)
    next(harness), next(hand)  # a first epoch each, untimed: caches, allocator, autotuning settle
    rates: dict[str, list[float]] = {"harness": [], "hand": []}
    for r in range(rounds):
        order = ("harness", "hand") if r % 2 == 0 else ("hand", "harness")
        for name in order:
            if name == "harness":
                result = next(harness).train
                rates[name].append(result.images / result.time_s)
            else:
                images, seconds = next(hand)
                rates[name].append(images / seconds)
    return statistics.median(rates["harness"]), statistics.median(rates["hand"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--batches", default="64,512")
    parser.add_argument("--settings", help="comma-separated, e.g. fp32,tf32+cl,bf16+cl (default: all for the device)")
    parser.add_argument("--compiled", default=COMPILED, help="the setting of the compiled cell at the smallest batch "
                        "('' to skip)")
    parser.add_argument("--compiled-variants", help="variants that get the compiled cell (default: all on a GPU, "
                        "resnet18 on a CPU, where compiling takes minutes)")
    parser.add_argument("--images", type=int, help="images per timed epoch (default 25,600 on a GPU, 1,024 on a CPU)")
    parser.add_argument("--rounds", type=int, default=3, help="timed epochs of each loop (default 3)")
    parser.add_argument("--automatic", help="precisions of the table of automatic memory formats (default: fp32 on "
                        "a CPU, fp32,tf32,bf16 on a GPU; '' to skip)")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    variants = args.variants.split(",")
    batches = [int(b) for b in args.batches.split(",")]
    settings = args.settings.split(",") if args.settings else (GPU_SETTINGS if gpu else CPU_SETTINGS)
    compiled_variants = (args.compiled_variants.split(",") if args.compiled_variants else
                         (variants if gpu else variants[:1])) if args.compiled else []
    images = args.images or (25_600 if gpu else 1_024)
    cells = [(v, b, s) for v in variants for b in batches for s in settings]
    cells += [(v, min(batches), args.compiled) for v in compiled_variants]

    print(f"device: {device_name(device)}; torch {torch.__version__}; {images} images per timed epoch, "
          f"median of {args.rounds} alternating epochs per loop; 32 px inputs, 10 classes", flush=True)
    header = f"| {'variant':<16} | {'batch':>5} | {'setting':<12} | {'harness img/s':>13} | {'hand img/s':>10} | ratio |"
    print(header + "\n|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|", flush=True)
    for variant, batch, setting in cells:
        start = time.perf_counter()
        try:
            harness, hand = measure(variant, batch, setting, max(1, images // batch), args.rounds, device)
            cell = f"{harness:>13,.0f} | {hand:>10,.0f} | {harness / hand:5.2f}"
        except Exception as exc:  # one cell failing (e.g. out of memory) must not lose the table
            cell = f"{'failed':>13} | {'':>10} | {'':5} ({type(exc).__name__}: {str(exc).splitlines()[0][:60]})"
        print(f"| {variant:<16} | {batch:>5} | {setting:<12} | {cell} |  {time.perf_counter() - start:.0f} s",
              flush=True)
    print("setting: precision (fp32 = TF32 off), +cl channels_last, +ro torch.compile(mode='reduce-overhead'); "
          "ratio = harness / hand (1.00 = no overhead)")
    automatic = args.automatic if args.automatic is not None else ("fp32,tf32,bf16" if gpu else "fp32")
    if automatic:
        print_automatic(variants, batches, automatic.split(","), images, args.rounds, device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
