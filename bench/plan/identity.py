"""A result's identity: everything that decides its number, as plain JSON-able data (its hashes are
bench.store.identity's). Cosmetic things (labels, the results folder, times) are not part of it; the git sha is
recorded, not hashed.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.hashing import digest, file_digest, normalized

if TYPE_CHECKING:
    import torch
    from torch import nn

# How a run with pretrained weights normalises its inputs (models.weights_normalization): part of its identity.
WEIGHTS_NORMALIZATION = "the weights' own mean/std when they carry it, else the data set's"


def module_fingerprint(model: nn.Module) -> str:
    """Module types with their constructor hyper-parameters, and every parameter and buffer's name, shape and dtype."""
    modules = [f"{name}:{type(m).__module__}.{type(m).__qualname__}({m.extra_repr()})"
               for name, m in model.named_modules()]
    tensors = [f"{name}:{tuple(t.shape)}:{t.dtype}" for name, t in model.state_dict().items()]
    return digest(modules + tensors)


def architecture_identity(variant_name: str) -> dict[str, Any]:
    """The variant's name, builder and arguments, the fingerprint of the model it builds (10 classes: the
    classifier's real size follows from the data set, which has an identity of its own), and its code
    (bench.plan.code.model_code)."""
    import models

    from .code import model_code

    variant = models.get_variant(variant_name)
    builder = f"{variant.builder.__module__}.{variant.builder.__qualname__}"
    model = variant.build(num_classes=10)
    identity = {"variant": variant.name, "builder": builder, "kwargs": normalized(variant.kwargs),
                "fingerprint": module_fingerprint(model), "code": model_code(model, variant.builder)}
    if variant.source != "built-in":  # outside code can change without this project's git sha changing
        identity["source"] = variant.source
        identity["origin"] = (file_digest(variant.origin) if variant.source == "module" and variant.origin
                              else variant.origin)
    return identity


def weights_identity(variant_name: str, weights: str | None) -> dict[str, Any]:
    """None (from scratch); torchvision's weights by their versioned name; a local file by its content."""
    import models
    from models.weights import IMAGENET_ALIASES

    if weights is None:
        return {"name": "none"}
    if weights.lower() in IMAGENET_ALIASES:
        return {"name": "imagenet", "torchvision": models.get_variant(variant_name).weights,
                "normalization": WEIGHTS_NORMALIZATION}
    from pathlib import Path

    path = Path(weights).expanduser()
    return {"name": str(path.resolve()), "sha256": file_digest(str(path)) if path.is_file() else "missing",
            "normalization": WEIGHTS_NORMALIZATION}


def device_identity(device: torch.device, threads: int | None = None) -> dict[str, object]:
    """The device kind and model; on the CPU also the run's thread count, which changes the arithmetic's order
    and so the numbers (resnet18 on digits after 2 epochs: 76.4 % test with 2 threads, 85.0 % with 1)."""
    from ..core.device import device_model

    found: dict[str, object] = {"kind": device.type, "name": device_model(device)}
    if device.type == "cpu" and threads is not None:
        found["threads"] = threads
    return found


def software_identity(device: torch.device | None = None) -> dict[str, str]:
    """torch and torchvision versions; on a GPU also the CUDA and cuDNN versions torch runs with."""
    import torch

    from ..core.versions import package_version

    found = {"torch": torch.__version__, "torchvision": package_version("torchvision")}
    if device is not None and device.type == "cuda":
        found["cuda"] = str(torch.version.cuda)
        found["cudnn"] = str(torch.backends.cudnn.version())
    return found
