"""The speed settings of a run, applied: numeric precision, memory format, torch.compile, cuDNN.

Each setting is a recipe field (so part of the result's identity; its vocabulary is bench.store.speed); nothing
here is an invisible global that a run inherits: `Speed.apply_backends` sets every flag it depends on, to the value
the recipe asks for. The worker resolves one Speed per run and passes it to everything that runs the model.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, ContextManager

from ..store.speed import COMPILE_MODES, PRECISIONS, Precision, describe

if TYPE_CHECKING:  # torch is imported where it is used: the report describes settings without it
    import torch
    from torch import nn


@dataclass(frozen=True)
class Speed:
    """One run's speed settings on one device (a torch.device, or its type as a string where only text is made)."""

    device: "torch.device"
    precision: str = "fp32"
    channels_last: bool = False
    compile: str = "off"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision '{self.precision}'; use {', '.join(PRECISIONS)}")
        if self.compile not in COMPILE_MODES:
            raise ValueError(f"unknown compile mode '{self.compile}'; use {', '.join(COMPILE_MODES)}")

    @classmethod
    def of(cls, recipe, device: torch.device) -> Speed:
        """The recipe's settings; a memory format left to measurement (None) is NCHW here: the worker measures and
        chooses it (bench.worker.speed_choice) and passes the chosen Speed on."""
        return cls(device, recipe.precision, bool(recipe.channels_last), recipe.compile)

    @property
    def spec(self) -> Precision:
        return PRECISIONS[self.precision]

    def apply_backends(self) -> None:
        """TF32 on or off as the precision says; cuDNN picks the fastest kernels per shape on CUDA."""
        import torch

        mode = "tf32" if self.spec.tf32 else "ieee"
        if hasattr(torch.backends, "fp32_precision"):  # torch ≥ 2.9
            torch.backends.cuda.matmul.fp32_precision = mode
            torch.backends.cudnn.conv.fp32_precision = mode
        else:
            torch.backends.cuda.matmul.allow_tf32 = self.spec.tf32
            torch.backends.cudnn.allow_tf32 = self.spec.tf32
        if self.device_type == "cuda":
            torch.backends.cudnn.benchmark = True

    def autocast(self) -> ContextManager:
        """The context every forward pass runs in: autocast to bf16/fp16, or nothing for fp32/tf32."""
        if self.spec.autocast is None:
            return contextlib.nullcontext()
        import torch

        return torch.autocast(self.device.type, dtype=getattr(torch, self.spec.autocast))

    def scaler(self) -> torch.amp.GradScaler:
        """A gradient scaler, enabled for fp16 only (disabled it is a plain pass-through)."""
        import torch

        return torch.amp.GradScaler(self.device.type, enabled=self.spec.scaler)

    def model(self, model: nn.Module) -> nn.Module:
        """The model moved to the device in the chosen memory format."""
        import torch

        model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def images(self, prepare: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
        """`prepare` followed by the conversion of the batch to the chosen memory format."""
        if not self.channels_last:
            return prepare
        import torch

        return lambda images: prepare(images).contiguous(memory_format=torch.channels_last)

    def compiled(self, model: nn.Module) -> nn.Module:
        """What the training step calls: the model itself, or torch.compile of it (sharing its parameters)."""
        if self.compile == "off":
            return model
        import torch

        return torch.compile(model, mode=self.compile)

    @property
    def cuda_graphs(self) -> bool:
        """Whether compiled steps replay CUDA graphs, which then need a step marker."""
        return self.compile == "reduce-overhead" and self.device_type == "cuda"

    @property
    def device_type(self) -> str:
        return self.device if isinstance(self.device, str) else self.device.type

    def describe(self) -> str:
        """One line for a report header."""
        return describe(self.precision, self.channels_last, self.compile, self.device_type)
