"""The complete training state of a run between two epochs, as plain tensors and numbers: what a resumed run needs
to go on bit for bit as if it had never stopped (bench.worker.resume writes and reads it; no I/O here).

Model weights and buffers, the optimizer's and the schedule's state, fp16's gradient scaler, and every random
generator the training draws from: the run's data-order and augmentation generator, torch's global generator
(dropout) on the CPU and on each CUDA device.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Training:
    """What `fit` trains with, gathered so that its state can be taken and put back in one piece."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    generator: torch.Generator
    device: torch.device

    def state_dict(self, epoch: int) -> dict:
        """The state after `epoch` (1-based). Tensors are the live ones: save or copy them before training on."""
        state = {"epoch": epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                 "generator": self.generator.get_state(), "cpu_rng": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict) -> int:
        """Put back a state taken by `state_dict`; returns the epoch it was taken after."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["cpu_rng"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        return int(state["epoch"])
