"""The vocabulary of a run's speed settings, as recorded in its row (`precision`, `channels_last`, `compile`):
what each value means and how a report describes it. bench.train.speed applies them; bench.config.recipe
offers them as recipe fields; the report reads them from the rows.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Precision:
    """How fp32 tensors are computed: autocast to a lower dtype or not, TF32 tensor cores or not."""

    autocast: str | None  # torch dtype name to autocast to; None: no autocast, every op in fp32
    tf32: bool  # TF32 for convolutions and matrix products (CUDA Ampere and newer; the CPU computes fp32)
    scaler: bool  # a gradient scaler (fp16's narrow exponent range needs one)
    description: str


PRECISIONS = {
    "fp32": Precision(None, tf32=False, scaler=False, description="fp32, TF32 off"),
    "tf32": Precision(None, tf32=True, scaler=False, description="fp32 with TF32 convolutions and matmuls"),
    "bf16": Precision("bfloat16", tf32=False, scaler=False, description="bf16 autocast"),
    "fp16": Precision("float16", tf32=False, scaler=True, description="fp16 autocast with a gradient scaler"),
}
COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune")


def describe(precision: str, channels_last: bool, compile: str, device_type: str) -> str:
    """One line for a report header: `fp32, TF32 off, contiguous (NCHW), compile off`."""
    parts = [PRECISIONS[precision].description, "channels_last" if channels_last else "contiguous (NCHW)",
             f"compile {compile}"]
    if device_type == "cuda":
        parts.append("cudnn.benchmark on")
    return ", ".join(parts)
