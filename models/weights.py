"""Pretrained weights: torchvision's ImageNet state dicts from torch's hub cache, or a local file, loaded by name and shape."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from .variant import Variant

# Names a user may give for "the torchvision weights this variant lists".
IMAGENET_ALIASES = {"imagenet", "default", "pretrained"}


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights that are neither in torch's hub cache nor at the given path."""


@dataclass
class LoadReport:
    """What a partial load did: tensors copied, model tensors left as initialised, file tensors unused."""

    source: str
    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs: how many tensors were loaded and skipped."""
        return (f"loaded {len(self.loaded)} tensors from {self.source}; skipped {len(self.skipped)} "
                f"(name or shape differ: kept fresh init); {len(self.unused)} file tensors unused")


def resolve_weights_file(variant: Variant, weights: str) -> Path:
    """The file to read for `weights`: a local path, or the hub-cache file of the variant's torchvision weights."""
    if weights.lower() in IMAGENET_ALIASES:
        if variant.weights is None:
            raise WeightsNotFoundError(f"variant '{variant.name}' lists no pretrained weights; train it from scratch "
                                       "or pass a state-dict file path")
        return hub_cache_file(variant.weights)
    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(f"weights file '{path}' does not exist; give a state-dict file path or 'imagenet'")
    return path


def hub_cache_file(weights_name: str) -> Path:
    """Where torch's hub cache keeps `weights_name` (e.g. "ResNet18_Weights.IMAGENET1K_V1"); an error if absent."""
    from torchvision.models import get_weight

    url = get_weight(weights_name).url
    directory = Path(torch.hub.get_dir()) / "checkpoints"
    path = directory / os.path.basename(url)
    if not path.is_file():
        # No network here: never download, tell the user exactly which file goes where.
        raise WeightsNotFoundError(f"pretrained weights {weights_name} not found: put {path.name} (from {url}) "
                                   f"in {directory}, or pass a local state-dict file instead")
    return path


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a .pth file, also when it is wrapped as {"state_dict": ...} or {"model": ...}."""
    obj = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise ValueError(f"{path} holds no state dict (a mapping of tensor names to tensors)")
    return obj


def load_matching(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> LoadReport:
    """Copy every tensor of `state` whose name and shape match the model's; report the rest."""
    own = model.state_dict()
    report = LoadReport(source=source)
    matched = {}
    for name, tensor in own.items():
        if name in state and state[name].shape == tensor.shape:
            matched[name] = state[name]
            report.loaded.append(name)
        else:
            report.skipped.append(name)
    report.unused = [name for name in state if name not in matched]
    model.load_state_dict(matched, strict=False)
    return report


def load_pretrained(model: nn.Module, variant: Variant, weights: str) -> LoadReport:
    """Load `weights` ("imagenet" or a file path) into `model`; a classifier of another size keeps its fresh init."""
    path = resolve_weights_file(variant, weights)
    return load_matching(model, read_state_dict(path), source=str(path))


def weights_normalization(variant: Variant, weights: str) -> tuple[tuple[float, ...], tuple[float, ...], str] | None:
    """The per-channel mean and std the weights were trained with, and where that comes from: torchvision weights
    bring their own (`transforms()`), a checkpoint bench wrote records its own; a plain state dict says nothing
    (None: the data set's statistics stay)."""
    if weights.lower() in IMAGENET_ALIASES:
        if variant.weights is None:
            return None
        from torchvision.models import get_weight

        preset = get_weight(variant.weights).transforms()
        return tuple(preset.mean), tuple(preset.std), f"{variant.weights}.transforms()"
    path = Path(weights).expanduser()
    if path.is_file():
        obj = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(obj, dict) and isinstance(obj.get("mean"), (list, tuple)) and isinstance(obj.get("std"), (list, tuple)):
            return tuple(float(v) for v in obj["mean"]), tuple(float(v) for v in obj["std"]), f"checkpoint {path.name}"
    return None
