"""The versions torch and torchvision report as their `__version__` (with the build's local tag, as in
`2.14.1+cu130`), read from their generated `version.py` without importing them: importing torchvision imports
torch._dynamo through its ops (seconds on a CPU), which a runner or a worker that only records the version need not
pay. The installed metadata's version lacks the local tag, so it would change the identity of every recorded run."""
from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from functools import cache
from pathlib import Path


@cache
def package_version(name: str) -> str:
    """`name.__version__`, read from `name/version.py` when the package is not imported yet."""
    if name in sys.modules:
        return sys.modules[name].__version__
    spec = importlib.util.find_spec(name)
    if spec is not None and spec.origin:
        try:
            tree = ast.parse((Path(spec.origin).parent / "version.py").read_text())
        except (OSError, SyntaxError):
            tree = None
        for node in tree.body if tree else ():
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets) \
                    and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return node.value.value
    return importlib.import_module(name).__version__  # no readable version.py: the package itself says
