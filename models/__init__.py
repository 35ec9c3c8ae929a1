"""Architecture variants for `bench`: blocks, a configurable ResNet, CIFAR nets, MobileNetV2, and their registry."""
from .init import zero_init_residual
from .registry import build, closest_names, get_variant, list_variants, register
from .variant import UnknownVariantError, Variant
from .weights import LoadReport, WeightsNotFoundError, load_pretrained, weights_normalization

__all__ = [
    "LoadReport",
    "UnknownVariantError",
    "Variant",
    "WeightsNotFoundError",
    "build",
    "closest_names",
    "get_variant",
    "list_variants",
    "load_pretrained",
    "weights_normalization",
    "register",
    "zero_init_residual",
]
