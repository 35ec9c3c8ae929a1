"""Variants from outside the built-in table: a factory named `package.module:function`, a variant an installed
package registers under the entry-point group `bench.variants`, or `timm:NAME` when timm is installed.

Each becomes a Variant like the built-in ones, with `source` saying where it came from; a name that cannot be
resolved raises UnknownVariantError with one sentence naming the part that failed and the fix.
"""
from __future__ import annotations

import difflib
import importlib
import inspect
from typing import Any, Callable

from torch import nn

from .variant import UnknownVariantError, Variant

ENTRY_POINT_GROUP = "bench.variants"
TIMM_PREFIX = "timm:"


def first_line(text: str | None, default: str) -> str:
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[0] if lines else default


def checked_factory(obj: Any, name: str) -> Callable[..., nn.Module]:
    if not callable(obj):
        raise UnknownVariantError(f"'{name}' is not a function (it is {type(obj).__name__} {obj!r}); point it at a "
                                  "function taking num_classes and returning an nn.Module")
    return obj


def module_variant(name: str) -> Variant:
    """`package.module:function` → a Variant whose builder is that function (called with num_classes)."""
    module_name, _, attribute = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownVariantError(f"cannot import module '{module_name}' named by '{name}' ({exc}); check the spelling "
                                  "and that it is importable from here (PYTHONPATH, pip install)") from None
    obj = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            close = difflib.get_close_matches(part, [n for n in dir(obj) if not n.startswith("_")], n=3)
            hint = f"; closest: {', '.join(close)}" if close else ""
            raise UnknownVariantError(f"module '{module_name}' has no '{attribute}' (named by '{name}'){hint}")
        obj = getattr(obj, part)
    factory = checked_factory(obj, name)
    return Variant(name, factory, first_line(factory.__doc__, f"{attribute} from {module_name}"), ("module",),
                   source="module", origin=source_file(factory))


def source_file(obj: Any) -> str | None:
    """The file that defines `obj` (its content is part of a result's identity), when Python knows it."""
    try:
        return inspect.getsourcefile(obj)
    except TypeError:
        return None


def timm_factory(num_classes: int = 10, model_name: str = "") -> nn.Module:
    """A timm model built from scratch (no pretrained download) with `num_classes` outputs."""
    import timm

    return timm.create_model(model_name, pretrained=False, num_classes=num_classes)


def timm_variant(name: str) -> Variant:
    model_name = name[len(TIMM_PREFIX):]
    try:
        import timm
    except ImportError:
        raise UnknownVariantError(f"'{name}' needs timm, which is not installed: pip install 'bench[timm]' "
                                  "(or pip install timm)") from None
    if not timm.is_model(model_name):
        close = difflib.get_close_matches(model_name, timm.list_models(), n=3)
        hint = f"; closest: {', '.join(TIMM_PREFIX + c for c in close)}" if close else ""
        raise UnknownVariantError(f"timm has no model '{model_name}'{hint} (timm.list_models() lists them)")
    return Variant(name, timm_factory, f"timm's {model_name} (timm {timm.__version__}), from scratch", ("timm",),
                   kwargs={"model_name": model_name}, source="timm", origin=f"timm {timm.__version__}")


def resolve(name: str) -> Variant | None:
    """The outside variant `name` refers to (timm:NAME or module:function), or None for a plain name."""
    if name.startswith(TIMM_PREFIX):
        return timm_variant(name)
    if ":" in name:
        return module_variant(name)
    return None


def entry_point_variants() -> list[Variant]:
    """The variants installed packages register under the `bench.variants` entry-point group: each entry point's
    name is the variant's name, its object a Variant or a factory taking num_classes."""
    from importlib.metadata import entry_points

    found = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        dist = f"{point.dist.name} {point.dist.version}" if point.dist else point.value
        try:
            obj = point.load()
        except Exception as exc:  # a broken plug-in must not take the built-in variants down with it
            import warnings

            warnings.warn(f"bench.variants entry point '{point.name}' ({point.value}) failed to load: {exc}")
            continue
        if isinstance(obj, Variant):
            from dataclasses import replace

            found.append(replace(obj, name=point.name, source="entry point", origin=dist))
        else:
            factory = checked_factory(obj, point.value)
            found.append(Variant(point.name, factory, first_line(factory.__doc__, f"{point.value} from {dist}"),
                                 ("entry-point",), source="entry point", origin=dist))
    return found
