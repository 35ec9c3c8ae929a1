"""The code that decides a result, as part of its identity: digests of the syntax tree of each definition, so that
an edited `forward`, initialisation or augmentation is a new result, while a comment, a docstring, the layout, or
the report's, the CLI's and the launchers' code are not.

- The model: every class in the built model that is not torch's own (with its bases), each method on its own
  (`models/resnet.py BasicBlock.forward`), its builder, and the other top-level functions and statements of the
  files they come from (`models/resnet.py (other definitions)`: helpers and tables such as STEMS); other classes
  of those files are left out. Outside models (module:function, entry points, timm) alike, from their own files.
- The harness: one digest per file of the code that loads, splits, augments, trains, evaluates and measures
  (HARNESS below), and of models' initialisation and weight loading.
"""
from __future__ import annotations

import ast
import inspect
from functools import cache
from pathlib import Path
from typing import Any

from ..core.hashing import digest

ROOT = Path(__file__).resolve().parents[2]  # the project: bench/ and models/ are named relative to it
# The harness code whose changes change results: data loading, splitting, augmentation and the image cache; the
# training loop and its schedule and speed settings; what a run measures; the run itself; the timers; the models'
# initialisation and weight loading. Not: the report, the CLI, the commands, the launchers, the plan, the store.
HARNESS = ("bench/data", "bench/train", "bench/measure", "bench/worker/run.py", "bench/worker/latency.py",
           "bench/core/device.py",
           "models/init.py", "models/weights.py")
OTHER = "(other definitions)"


def without_docstring(node: ast.AST) -> ast.AST:
    body = getattr(node, "body", None)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        node.body = body[1:] or [ast.Pass()]
    return node


def shape(node: ast.AST) -> str:
    """A definition as its syntax tree: no comments, no docstring, no line numbers or layout."""
    return ast.dump(without_docstring(node), annotate_fields=False)


@cache
def _definitions(path: str, stamp: tuple[int, int]) -> dict[str, str]:
    tree = ast.parse(Path(path).read_text(encoding="utf-8", errors="replace"))
    found: dict[str, str] = {}
    rest: list[str] = []
    for node in without_docstring(tree).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found[node.name] = digest(shape(node))
        elif isinstance(node, ast.ClassDef):
            own = []
            for item in without_docstring(node).body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found[f"{node.name}.{item.name}"] = digest(shape(item))
                else:
                    own.append(ast.dump(item, annotate_fields=False))
            head = [ast.dump(b, annotate_fields=False) for b in node.bases + node.decorator_list]
            found[node.name] = digest(head + own)  # the class itself: bases, decorators, attributes
        else:
            rest.append(ast.dump(node, annotate_fields=False))
    found[OTHER] = digest(rest)
    return found


def definitions(path: Path) -> dict[str, str]:
    """Each top-level definition of a Python file (and each method of its classes) → a digest of its syntax tree;
    the module's other statements together under OTHER. Memoised by the file's modification time and size."""
    stat = path.stat()
    return _definitions(str(path), (stat.st_mtime_ns, stat.st_size))


def shown(path: Path) -> str:
    """A file as an identity names it: relative to this project, or to the package it belongs to."""
    path = path.resolve()
    if path.is_relative_to(ROOT):
        return path.relative_to(ROOT).as_posix()
    parts = path.parts
    for i in range(len(parts) - 1, 0, -1):  # the outermost folder that is still a package (has __init__.py)
        if not (Path(*parts[:i]) / "__init__.py").is_file():
            return Path(*parts[i:]).as_posix()
    return path.name


def source_path(obj: Any) -> Path | None:
    try:
        found = inspect.getsourcefile(obj)
    except TypeError:  # built into the interpreter
        return None
    return Path(found) if found and found.endswith(".py") else None


def is_torch(cls: type) -> bool:
    return cls.__module__.split(".")[0] in ("torch", "torchvision", "builtins", "typing", "abc")


def model_code(model: Any, builder: Any) -> dict[str, str]:
    """`<file> <definition>` → digest, for the code of a built model (see the module's docstring)."""
    import sys

    from torch import nn

    wanted: dict[Path, tuple[str, set[str]]] = {}  # file → (its module, the model's classes and builder there)
    for obj in {type(m) for m in model.modules()} | {builder}:  # each class once, however many modules it makes
        for cls in getattr(obj, "__mro__", (obj,)):
            name = getattr(cls, "__qualname__", "").split(".")[0]
            path = None if is_torch(cls) else source_path(cls)
            if path is not None and name:
                wanted.setdefault(path, (cls.__module__, set()))[1].add(name)
    code = {}
    for path, (module_name, names) in sorted(wanted.items()):
        module = sys.modules.get(module_name)
        for key, value in definitions(path).items():
            top = key.split(".")[0]
            other = getattr(module, top, None)
            another_module = isinstance(other, type) and issubclass(other, nn.Module) and top not in names
            if not another_module:  # another nn.Module of the same file (Bottleneck beside BasicBlock) is not this
                code[f"{shown(path)} {key}"] = value  # model's code; its helpers, tables and builder are
    return code


def harness_code() -> dict[str, str]:
    """`<file>` → digest of its definitions, for the harness code that decides results (HARNESS)."""
    files = []
    for entry in HARNESS:
        path = ROOT / entry
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return {shown(f): digest(sorted(definitions(f).items())) for f in files}
