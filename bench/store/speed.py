"""The vocabulary of a run's speed settings, as recorded in its row (`precision`, `channels_last`, `compile`,
`speed_chosen_by`): what each value means and how a report describes it. bench.train.speed applies them;
bench.train.probe chooses the memory format by measurement; bench.config.recipe offers them as recipe fields; the
report reads them from the rows.

The policy of the automatic choice: only the memory format is chosen by measurement (it changes how fast the numbers
come, not what they are meant to be). The precision is never lowered automatically: fp32 stays fp32 unless the recipe
or `--precision` admits tf32, bf16 or fp16, because a lower precision changes the numbers themselves.
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

# The memory formats a run can train in: the recipe's `channels_last` (true, false, or none = choose by measurement)
# and the row's step-time column of each, in ms per training step as the probe measured it.
MEMORY_FORMATS = {False: "contiguous (NCHW)", True: "channels_last"}
STEP_COLUMNS = {False: "step_ms_nchw", True: "step_ms_channels_last"}
# Who chose the memory format a run trained in (the row's `speed_chosen_by`).
BY_MEASUREMENT, BY_USER = "measurement", "user"


def describe(precision: str, channels_last: bool | None, compile: str, device_type: str) -> str:
    """One line for a report header: `fp32, TF32 off, contiguous (NCHW), compile off`; a memory format chosen by
    measurement (None) reads `memory format chosen per variant by measurement`."""
    layout = "memory format chosen per variant by measurement" if channels_last is None else \
        MEMORY_FORMATS[bool(channels_last)]
    parts = [PRECISIONS[precision].description, layout, f"compile {compile}"]
    if device_type == "cuda":
        parts.append("cudnn.benchmark on")
    return ", ".join(parts)
