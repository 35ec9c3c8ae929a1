"""The training recipe: every field with its type, meaning and allowed values, defined once.

Suite files, `bench run --set KEY=VALUE` and `bench suites --show` all read and check fields through this table,
so a new field needs no new flag and no new parser.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import UsageError
from ..store.speed import COMPILE_MODES, PRECISIONS

SCHEDULES = ("cosine", "step", "constant")
AUGMENTS = ("none", "crop", "crop-flip")


def knob(default: Any, help: str, *, low: float | None = None, high: float | None = None, above: bool = False,
         below: bool = False, choices: tuple[str, ...] | None = None) -> Any:
    """A recipe field: its default, one line of help, and its allowed values (a range, or choices)."""
    return field(default=default, metadata={"help": help, "low": low, "high": high, "above": above, "below": below,
                                            "choices": choices})


# The defaults are the recipe the built-in suites share (bench.config.builtin says why each was chosen); a suite
# states only what it changes. Measured on digits, 2 CPU cores: every variant of the built-in suites plateaus
# under it, where the old defaults (6 epochs, cosine, no zero-init) left resnet50-152 at 16-19% test accuracy.
@dataclass(frozen=True)
class Recipe:
    """One training recipe, applied identically to every variant of a suite."""

    epochs: int = knob(16, "epochs to train", low=1)
    batch_size: int = knob(32, "training batch size", low=1)
    lr: float = knob(0.05, "peak learning rate of SGD", low=0, above=True)
    momentum: float = knob(0.9, "SGD momentum", low=0, high=1, below=True)
    nesterov: bool = knob(True, "Nesterov momentum")
    weight_decay: float = knob(5e-4, "L2 weight decay", low=0)
    schedule: str = knob("step", "per-step learning rate after the warm-up: cosine to 0, step (÷10 at 50% and "
                                   "75%) or constant", choices=SCHEDULES)
    warmup_epochs: float = knob(1.0, "linear learning-rate warm-up, in epochs", low=0)
    warmup_max_fraction: float = knob(0.2, "the warm-up never takes more than this share of the run's steps",
                                      low=0, high=1)
    precise_bn_batches: int = knob(20, "before each evaluation, BatchNorm statistics recomputed over this many "
                                       "training batches under the current weights; 0 = running averages", low=0)
    label_smoothing: float = knob(0.1, "label smoothing of the training loss", low=0, high=1, below=True)
    zero_init_residual: bool = knob(True, "each residual block starts as the identity (models.zero_init_residual)")
    augment: str = knob("crop-flip", "none, crop (pad side/8, random crop) or crop-flip (+ flips where the data set "
                                     "allows them)", choices=AUGMENTS)
    patience: int | None = knob(None, "early stopping: epochs without a better validation accuracy; none = off",
                                low=1)
    input_size: int = knob(32, "input side in pixels", low=1)
    val_fraction: float = knob(0.2, "share of the training split held out for validation (stratified, seeded)",
                               low=0, high=1, above=True, below=True)
    train_limit: int | None = knob(None, "train on this many images of the training split (class-stratified, "
                                         "chosen by the run's seed; validation shrinks in proportion); none = all",
                                   low=1)
    test_limit: int | None = knob(None, "test on this many images of the test split (class-stratified, the same for "
                                        "every run); none = all", low=1)
    latency_batch: int = knob(32, "the larger batch of the forward-latency measurement (batch 1 is always measured)",
                              low=1)
    latency_processes: int = knob(3, "fresh processes that each time the forward latency after training: one median "
                                     "per process, so that a comparison has independent values (pyperf's idea); 0 = "
                                     "not timed by the run (`bench latency` times the folder later)", low=0)
    # Speed settings (bench.store.speed, applied by bench.train.speed): part of the identity like every other field.
    # fp32 means TF32 off, so a default run computes the same on every GPU generation as on the CPU; the memory format
    # is chosen by measurement unless given (its choice is in the row, not in the experiment: see bench.train.probe).
    precision: str = knob("fp32", "fp32 (TF32 off), tf32, bf16 (autocast) or fp16 (autocast + gradient scaler)",
                          choices=tuple(PRECISIONS))
    channels_last: bool | None = knob(None, "NHWC memory format for the model and its input batches (true), NCHW "
                                            "(false), or none: chosen per variant and device by timing a few "
                                            "training steps in each (bench.train.probe)")
    compile: str = knob("off", "torch.compile mode of the training step", choices=COMPILE_MODES)


FIELDS = {f.name: f for f in dataclasses.fields(Recipe)}
TYPES = typing.get_type_hints(Recipe)
TRUE, FALSE, NONE = ("true", "yes", "on", "1"), ("false", "no", "off", "0"), ("none", "null")


def field_type(name: str) -> tuple[type, bool]:
    """(the field's value type, whether it may be None)."""
    hint = TYPES[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return (args[0], True) if args else (hint, False)


def allowed(name: str) -> str:
    """What a field accepts, in words: `a whole number ≥ 1`, `one of cosine, step, constant`, ..."""
    meta = FIELDS[name].metadata
    kind, optional = field_type(name)
    if meta["choices"]:
        text = f"one of {', '.join(meta['choices'])}"
    elif kind is bool:
        text = "true or false"
    else:
        text = "a whole number" if kind is int else "a number"
        bounds = []
        if meta["low"] is not None:
            bounds.append(f"{'>' if meta['above'] else '≥'} {meta['low']:g}")
        if meta["high"] is not None:
            bounds.append(f"{'<' if meta['below'] else '≤'} {meta['high']:g}")
        text += " " + " and ".join(bounds) if bounds else ""
    return text + (", or none" if optional else "")


# Names people reach for that are not recipe fields, and where the setting lives instead.
ELSEWHERE = {"seed": "the seeds are not a recipe field: give their number with --seeds N (seeds 0..N-1), or "
                     "`seeds = N` in a suite file",
             "device": "the device is not a recipe field: use --device"}


def unknown_field(name: str, where: str) -> UsageError:
    if name.rstrip("s") in ELSEWHERE:
        return UsageError(f"{where}: no recipe field '{name}'; {ELSEWHERE[name.rstrip('s')]}")
    close = difflib.get_close_matches(name, list(FIELDS), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return UsageError(f"{where}: no recipe field '{name}'{hint}; the fields are: {', '.join(FIELDS)}")


def checked(name: str, value: Any, where: str) -> Any:
    """`value` for field `name`, converted (text from the command line, or a TOML value) and range-checked; a
    wrong one is a UsageError that says `where`, the value and what the field accepts."""
    if name not in FIELDS:
        raise unknown_field(name, where)
    kind, optional = field_type(name)
    meta = FIELDS[name].metadata
    shown = value if isinstance(value, str) else repr(value)
    bad = UsageError(f"{where}: '{shown}' is not allowed for {name}, which takes {allowed(name)} ({meta['help']})")
    if isinstance(value, str):
        text = value.strip()
        if optional and text.lower() in NONE:
            return None
        if kind is bool:
            if text.lower() not in TRUE + FALSE:
                raise bad
            value = text.lower() in TRUE
        elif kind in (int, float):
            try:
                value = kind(text)
            except ValueError:
                raise bad from None
        else:
            value = text
    elif value is None:
        if not optional:
            raise bad
        return None
    elif kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise bad
    if meta["choices"] and value not in meta["choices"]:
        raise bad
    if kind is float and not math.isfinite(value):  # nan passes every comparison, inf every lower bound
        raise UsageError(f"{where}: '{shown}' is not allowed for {name}, which takes {allowed(name)}, never nan or "
                         f"infinite ({meta['help']})")
    if kind in (int, float):
        low, high = meta["low"], meta["high"]
        if low is not None and (value <= low if meta["above"] else value < low):
            raise bad
        if high is not None and (value >= high if meta["below"] else value > high):
            raise bad
    return value


def parse_assignment(text: str, flag: str = "--set") -> tuple[str, Any]:
    """`KEY=VALUE` from `--set` (or another `flag` that takes recipe fields), checked against the recipe's
    definition."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"{flag} '{text}': write KEY=VALUE, e.g. {flag} lr=0.1 (fields: {', '.join(FIELDS)})")
    key = key.strip()
    return key, checked(key, value, f"{flag} {text}")


def with_overrides(recipe: Recipe, **changes: Any) -> Recipe:
    """`recipe` with the non-None `changes` applied (from command-line flags and --set)."""
    return dataclasses.replace(recipe, **{k: v for k, v in changes.items() if v is not None})
