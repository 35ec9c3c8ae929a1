"""Suites as TOML files: `bench run --suite my-study.toml`, and `bench suites --show NAME` to start one from.

The file holds the same fields as a built-in suite (bench.suites.Suite); every key is checked, an unknown one
is an error naming the file, the key and what is allowed, never ignored.

    name = "resnet-depth"                 # optional: the file's name without .toml
    description = "ResNet-18/34/50 with StepLR and early stopping"
    dataset = "digits"
    seeds = 3

    [recipe]                              # any recipe field (bench suites --show prints them all)
    epochs = 30
    schedule = "step"
    patience = 3

    [tune]                                # optional: tune recipe fields per variant on validation accuracy
    lr = [0.02, 0.05, 0.1, 0.2]           # each a list of values (the grid is every combination)
    seeds = 1                             # optional: trials per grid point and variant

    [[entries]]                           # the first entry is the baseline
    variant = "resnet18"
    [[entries]]
    variant = "resnet50"
    weights = "imagenet"                  # optional: imagenet or a weights file
    min_test_acc = 0.9                    # optional: what it promises on these defaults
"""
from __future__ import annotations

import difflib
import json
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from ..core.errors import UsageError
from .recipe import FIELDS, Recipe, checked
from ..core.hashing import slug
from ..store.paths import SAFE_NAME_MAX, SAFE_NAME_RULE, is_safe_name
from .suite import MAX_SEEDS, Entry, Published, Suite

TOP_KEYS = ("name", "description", "dataset", "seeds", "recipe", "tune", "entries", "published")
ENTRY_KEYS = ("variant", "weights", "min_test_acc")
PUBLISHED_KEYS = tuple(f.name for f in fields(Published))


def is_suite_file(name: str) -> bool:
    return name.endswith(".toml") or Path(name).is_file()


def refuse_unknown(table: dict, allowed: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(f"{where}: unknown key '{key}'{hint}; allowed: {', '.join(allowed)}")


def typed(value: Any, kind: type | tuple[type, ...], what: str, where: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise UsageError(f"{where}: {what} = {value!r} must be a {names.replace('str', 'string')}")
    return value


def load_suite(path: str | Path) -> Suite:
    """The suite a TOML file describes, every key and value checked."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UsageError(f"suite file '{path}' does not exist; give a .toml file or a built-in suite "
                         "(see `bench suites`)")
    where = f"suite file '{path}'"
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{where} cannot be read: {exc}") from None
    refuse_unknown(raw, TOP_KEYS, where)
    name = typed(raw.get("name", path.stem), str, "name", where)
    if not is_safe_name(name):  # it names the results folder: one plain folder name (bench.store.paths)
        raise UsageError(f"{where}: name = {name!r} must be {SAFE_NAME_RULE} (it names the results folder), e.g. "
                         f"{slug(name).lstrip('.-')[:SAFE_NAME_MAX] or 'my-suite'!r}")
    recipe_table = typed(raw.get("recipe", {}), dict, "[recipe]", where)
    recipe = Recipe(**{k: checked(k, v, f"{where}, [recipe]") for k, v in recipe_table.items()})
    entries = typed(raw.get("entries", []), list, "[[entries]]", where)
    if not entries:
        raise UsageError(f"{where} has no [[entries]]; add one per variant, e.g. [[entries]] variant = \"resnet18\"")
    seeds = seed_count(raw.get("seeds", 1), where)
    tune, tune_seeds = tune_table(typed(raw.get("tune", {}), dict, "[tune]", where), f"{where}, [tune]")
    return Suite(name, typed(raw.get("description", ""), str, "description", where),
                 tuple(entry(e, f"{where}, entry {i}") for i, e in enumerate(entries, 1)),
                 dataset=typed(raw.get("dataset", "digits"), str, "dataset", where), recipe=recipe, seeds=seeds,
                 published=tuple(published(p, f"{where}, published {i}")
                                 for i, p in enumerate(typed(raw.get("published", []), list, "[[published]]", where),
                                                       1)),
                 tune=tune, tune_seeds=tune_seeds)


def seed_count(value: object, where: str) -> int:
    """A `seeds = N` of a suite file: a whole number from 1 to MAX_SEEDS."""
    seeds = typed(value, int, "seeds", where)
    if not 1 <= seeds <= MAX_SEEDS:
        raise UsageError(f"{where}: seeds = {seeds} must be from 1 to {MAX_SEEDS:,}")
    return seeds


def tune_table(table: dict, where: str) -> tuple[tuple[tuple[str, tuple], ...], int]:
    """The `[tune]` table: each recipe field with its list of values (each checked like the field), and `seeds`."""
    seeds = seed_count(table.get("seeds", 1), where)
    grid = []
    for key, values in table.items():
        if key == "seeds":
            continue
        if not isinstance(values, list) or not values:
            raise UsageError(f"{where}: {key} = {values!r} must be a list of values, e.g. {key} = [0.05, 0.1]")
        grid.append((key, tuple(dict.fromkeys(checked(key, v, where) for v in values))))
    return tuple(grid), seeds


def entry(table: Any, where: str) -> Entry:
    table = typed(table, dict, "[[entries]]", where)
    refuse_unknown(table, ENTRY_KEYS, where)
    if "variant" not in table:
        raise UsageError(f"{where} names no variant; add variant = \"NAME\" (see `bench models`)")
    floor = table.get("min_test_acc")
    if floor is not None and not (isinstance(floor, (int, float)) and not isinstance(floor, bool) and 0 <= floor <= 1):
        raise UsageError(f"{where}: min_test_acc = {floor!r} must be a fraction between 0 and 1, e.g. 0.9")
    return Entry(typed(table["variant"], str, "variant", where), typed(table.get("weights"), (str, type(None)),
                                                                         "weights", where),
                 None if floor is None else float(floor))


def published(table: Any, where: str) -> Published:
    from ..store.metrics import BY_COLUMN

    table = typed(table, dict, "[[published]]", where)
    refuse_unknown(table, PUBLISHED_KEYS, where)
    missing = [k for k in ("source", "dataset", "metric", "values", "setting") if k not in table]
    if missing:
        raise UsageError(f"{where} lacks {', '.join(missing)}")
    if table["metric"] not in BY_COLUMN:
        raise UsageError(f"{where}: metric = {table['metric']!r} is not a run column; use one of {', '.join(BY_COLUMN)}")
    values = typed(table["values"], dict, "values", where)
    for label, value in values.items():
        typed(value, (int, float), f"values.{label}", where)
    return Published(str(table["source"]), str(table["dataset"]), table["metric"],
                     tuple((label, float(v)) for label, v in values.items()), str(table["setting"]),
                     table.get("dataset_spec"))


# ---------------------------------------------------------------- writing

def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)  # a TOML basic string: JSON's escapes are TOML's


def toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() and key.isascii() else toml_value(key)


def dump_suite(suite: Suite) -> str:
    """The suite as TOML that `load_suite` reads back into an equal suite; every recipe field is written out,
    each with its help as a comment."""
    lines = [f"name = {toml_value(suite.name)}", f"description = {toml_value(suite.description)}",
             f"dataset = {toml_value(suite.dataset)}", f"seeds = {suite.seeds}", "", "[recipe]"]
    for name, spec in FIELDS.items():
        value = getattr(suite.recipe, name)
        line = f"{name} = {toml_value(value)}" if value is not None else f"# {name} = (none)"
        lines.append(f"{line}  # {spec.metadata['help']}")
    for e in suite.entries:
        lines += ["", "[[entries]]", f"variant = {toml_value(e.variant)}"]
        lines += [f"weights = {toml_value(e.weights)}"] if e.weights is not None else []
        lines += [f"min_test_acc = {toml_value(e.min_test_acc)}"] if e.min_test_acc is not None else []
    for p in suite.published:
        lines += ["", "[[published]]"]
        for key in ("source", "dataset", "metric", "setting", "dataset_spec"):
            if getattr(p, key) is not None:
                lines.append(f"{key} = {toml_value(getattr(p, key))}")
        lines += ["[published.values]"] + [f"{toml_key(label)} = {toml_value(v)}" for label, v in p.values]
    if suite.tune:
        lines += ["", "[tune]", f"seeds = {suite.tune_seeds}"]
        lines += [f"{key} = [{', '.join(toml_value(v) for v in values)}]" for key, values in suite.tune]
    return "\n".join(lines) + "\n"
