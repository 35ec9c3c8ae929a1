"""Models no run can train, refused in one line before any child starts: each variant is built once here, on the
CPU, at the data set's class count, and shown one image of the run's input size. A factory that raises, a model
without a trainable parameter, and an output that is not one score per class are named with what to fix.

Cost: the build and one forward pass of batch 1 per variant (on 2 CPU cores: plain32 ~30 ms, resnet18 ~0.2 s,
resnet152 ~1.1 s at 32 px, its forward 0.16 s at 224 px); the identity builds each variant once more, at 10 classes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.errors import UsageError, error_line

if TYPE_CHECKING:
    from torch import nn


def built(variant_name: str, num_classes: int) -> nn.Module:
    """The variant's model with `num_classes` outputs; a factory that raises is one line with its message."""
    import models

    try:
        return models.get_variant(variant_name).build(num_classes=num_classes)
    except Exception as exc:  # the factory is anyone's code: whatever it raises, the run cannot start
        raise UsageError(f"variant '{variant_name}' cannot be built: its factory raised {error_line(exc)}; fix the "
                         "factory or leave the variant out (--variants)") from None


def check_trainable(variant_name: str, model: nn.Module) -> None:
    total = sum(p.numel() for p in model.parameters())
    if not total:
        raise UsageError(f"variant '{variant_name}' has no parameters (its model, {type(model).__name__}, holds no "
                         "weights): there is nothing to train; give it a layer with weights")
    if not any(p.requires_grad for p in model.parameters() if p.numel()):
        raise UsageError(f"variant '{variant_name}' has no trainable parameter: none of its {total:,} has "
                         "requires_grad, so there is nothing to train; leave at least one layer unfrozen")


def output_width(variant_name: str, model: nn.Module, input_size: int, on_cpu: bool) -> int | None:
    """The width of the model's output for one image, in evaluation mode; None when its forward pass fails here on
    the CPU for a run on another device (that device may run what the CPU cannot: the run will tell)."""
    import torch

    model.eval()
    try:
        with torch.inference_mode():
            out = model(torch.zeros(1, 3, input_size, input_size))
    except Exception as exc:  # the model's own code
        if not on_cpu:
            return None
        raise UsageError(f"variant '{variant_name}' fails on one {input_size}×{input_size} image: {error_line(exc)}; "
                         "fix the model, or choose an input_size it accepts") from None
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != 1:
        shown = f"shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else f"a {type(out).__name__}"
        raise UsageError(f"variant '{variant_name}' returns {shown} for one image, not a row of class scores "
                         "(batch × classes); make its forward return the logits")
    return int(out.shape[1])


def check_models(variant_names: list[str], num_classes: int, dataset: str, input_size: int, on_cpu: bool) -> None:
    """Build each variant once and refuse, in one line, one that no run can train (see the module's docstring)."""
    for name in dict.fromkeys(variant_names):
        model = built(name, num_classes)
        check_trainable(name, model)
        width = output_width(name, model, input_size, on_cpu)
        if width is not None and width != num_classes:
            raise UsageError(f"variant '{name}' gives {width} outputs per image, but {dataset} has {num_classes} "
                             f"classes: its classifier must have num_classes outputs (its factory is called with "
                             f"num_classes={num_classes})")
