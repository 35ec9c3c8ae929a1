"""`bench models`: the registry, and the cost of each variant."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING


from ..core.argtypes import at_least, option
from ..core.errors import UsageError
from .output import FORMATS, print_frame

if TYPE_CHECKING:
    import pandas as pd

MODEL_COLUMNS = ["variant", "source", "params", "trainable_params", "macs", "flops", "other_ops", "activations", "size_mb",
                 "input_size", "num_classes", "skipped_ops"]


def models_table(patterns: list[str], tag: str | None, input_size: int, num_classes: int) -> pd.DataFrame:
    """One row per variant matching any of `patterns` (names, globs, `module:function` models; commas also
    separate them; none: all), in the order named, each once, with its profile at `input_size` and `num_classes`."""
    import models
    import pandas as pd

    from ..measure.profile import profile_model

    rows = []
    named = [p.strip() for text in patterns for p in text.split(",") if p.strip()]
    variants = list({v.name: v for p in (named or [None]) for v in models.list_variants(p, tag)}.values())
    for variant in variants:
        if input_size < variant.min_input_size:
            raise UsageError(f"--input-size {input_size} is smaller than {variant.name} accepts "
                             f"({variant.min_input_size} px)")
    for variant in variants:
        profile = profile_model(variant.build(num_classes=num_classes), input_size, num_classes)
        rows.append({"variant": variant.name, "source": variant.source, **dataclasses.asdict(profile)})
    return pd.DataFrame(rows, columns=MODEL_COLUMNS)


MODEL_UNITS = ("params: count; macs: multiply-adds of convolutions, linear layers and matrix products; flops = 2 × "
               "macs; other_ops: what fvcore counts beyond macs (batch norm, pooling); activations: output elements; "
               "size_mb: parameters + buffers in MB")


@dataclass
class ModelsOptions:
    patterns: list[str] = option([], "variant names or glob patterns, several allowed (e.g. 'resnet18*' "
                                 "mobilenet_v2 mynets:small_cnn); none: every registered variant", flag="patterns",
                                 nargs="*")
    tag: str | None = option(None, "only variants with this tag (stem, depth, mobile, shortcut, resnet, cifar)")
    input_size: int = option(32, "input side in pixels (default %(default)s)", type=at_least(1))
    num_classes: int = option(10, "classifier outputs (default %(default)s)", type=at_least(1))
    format: str = option("table", None, choices=FORMATS)


def models(options: ModelsOptions) -> int:
    """Print the cost of every matching variant."""
    table = models_table(options.patterns, options.tag, options.input_size, options.num_classes)
    print_frame(table, options.format, units=MODEL_UNITS)
    return 0
