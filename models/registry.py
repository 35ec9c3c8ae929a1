"""The variant registry: every architecture variant is a name with a builder and plain-data metadata."""
from __future__ import annotations

import difflib
import fnmatch

from torch import nn

from .variant import UnknownVariantError, Variant


_REGISTRY: dict[str, Variant] = {}
_OUTSIDE: dict[str, Variant] = {}  # outside variants resolved so far, by the name they were asked for
_LOADED: list[bool] = []  # the built-in table and the entry points, imported once


def register(variant: Variant) -> Variant:
    """Add `variant` to the registry; a name can be registered only once."""
    if variant.name in _REGISTRY:
        raise ValueError(f"A variant is already registered under the name '{variant.name}'.")
    _REGISTRY[variant.name] = variant
    return variant


def closest_names(name: str, n: int = 3) -> list[str]:
    """The registered names that look most like `name`."""
    return difflib.get_close_matches(name, list(_REGISTRY), n=n, cutoff=0.3)


def get_variant(name: str) -> Variant:
    """The registered variant called `name`, an outside one (`timm:NAME`, `package.module:function`), or an error
    naming the closest ones."""
    _ensure_loaded()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name not in _OUTSIDE:
        from .outside import resolve

        found = resolve(name)
        if found is None:
            raise UnknownVariantError(_unknown_message(name))
        _OUTSIDE[name] = found
    return _OUTSIDE[name]


def _unknown_message(name: str) -> str:
    close = closest_names(name)
    hint = f"; closest: {', '.join(close)}" if close else ""
    return (f"no registered variant matches '{name}'{hint} (see `bench models`; outside models: "
            "package.module:function or timm:NAME)")


def list_variants(pattern: str | None = None, tag: str | None = None) -> list[Variant]:
    """Variants whose name matches the glob `pattern` (all when None) and that carry `tag`, in registration order."""
    _ensure_loaded()
    if pattern is not None and ":" in pattern:  # an outside model is named, never globbed
        variant = get_variant(pattern)
        return [variant] if tag is None or tag in variant.tags else []
    if tag is not None and tag not in all_tags():
        raise UnknownVariantError(f"no variant has the tag '{tag}'; the tags are: {', '.join(all_tags())}")
    found = [
        v
        for v in _REGISTRY.values()
        if (pattern is None or fnmatch.fnmatchcase(v.name, pattern)) and (tag is None or tag in v.tags)
    ]
    if pattern is not None and not found and not any(fnmatch.fnmatchcase(v.name, pattern) for v in _REGISTRY.values()):
        raise UnknownVariantError(_unknown_message(pattern))
    return found


def all_tags() -> list[str]:
    """Every tag some registered variant carries, sorted."""
    _ensure_loaded()
    return sorted({t for v in _REGISTRY.values() for t in v.tags})


def build(name: str, num_classes: int = 10, weights: str | None = None) -> nn.Module:
    """Build variant `name`; `weights` is None (scratch), "imagenet"/"DEFAULT" (its torchvision weights) or a file path."""
    variant = get_variant(name)
    model = variant.build(num_classes=num_classes)
    if weights is not None:
        from .weights import load_pretrained

        load_pretrained(model, variant, weights)
    return model


def _ensure_loaded() -> None:
    """Register the built-in variants, then those of installed packages' `bench.variants` entry points (once).
    An entry point whose name is taken is skipped with a warning: it cannot replace a variant."""
    if _LOADED:
        return
    _LOADED.append(True)
    import warnings

    from .outside import entry_point_variants
    from .zoo import VARIANTS

    for variant in VARIANTS:
        register(variant)
    for variant in entry_point_variants():
        if variant.name in _REGISTRY:
            warnings.warn(f"entry point variant '{variant.name}' ({variant.origin}) skipped: the name is taken")
        else:
            register(variant)
