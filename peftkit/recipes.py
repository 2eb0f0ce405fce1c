"""Recipes: complete comparisons as YAML (data only: ``yaml.safe_load``, unknown keys are errors).

    # peftkit compare --recipe recipes/minilm-sst2.yaml
    model: ...
    dataset: ...
    seeds: [0, 1, 2]
    max_length: 128
    strategies:
      - full
      - lora:r=8
      - {spec: prompt, learning_rate: 0.03, epochs: 5}
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from .errors import PeftkitError, read_user_text
from .settings import HYPERPARAMETERS, RECIPE

# key -> (accepted python types, description); a run setting's entry comes from its declaration (settings.py)
SCHEMA: dict[str, tuple[tuple[type, ...], str]] = {
    "description": ((str,), "free text"),
    "model": ((str,), "hub id or local directory"),
    "dataset": ((str,), "hub name, file or directory"),
    "strategies": ((list,), "list of SPEC strings or {spec: SPEC, <hyperparameter>: value}"),
    "seeds": ((list, int), "list of ints"),
    **{s.name: s.recipe_schema() for s in RECIPE if not s.late},
    "output": ((str,), "output directory"),
    **{s.name: s.recipe_schema() for s in RECIPE if s.late},  # the keys added later, listed after output as before
    "profile": ((str,), "full or quick"),
    "search": ((str,), "lr, epochs or lr,epochs"),
    "search_grid": ((list,), "list of factors of each default learning rate"),
    "epochs_grid": ((list,), "list of factors of each strategy's default epochs"),
}
CHOICES: dict[str, tuple[str, ...]] = {s.name: s.choices for s in RECIPE if s.choices}
# Named settings for `compare --profile`; a recipe or flags override them.
PROFILES: dict[str, dict[str, Any]] = {
    "full": {},
    "quick": {"max_train_samples": 1000, "max_eval_samples": 500, "max_length": 64},
}
STRATEGY_KEYS = ("spec", *HYPERPARAMETERS)
SEARCHES = ("lr", "epochs", "lr,epochs", "epochs,lr")  # what `search` may say (search.parse_search)


def _check_type(where: str, key: str, value: Any, types: tuple[type, ...], what: str) -> None:
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        raise PeftkitError(f"{where}: '{key}' must be {what}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):  # YAML's .inf and .nan
        raise PeftkitError(f"{where}: '{key}' must be a finite number, got {value!r}")


def _output_inside(path: Path, output: str) -> str:
    """A recipe's output, ``~`` expanded; refused unless it lies below the working directory once links
    are resolved (a recipe is data someone handed over: it may not pick where files go outside here)."""
    expanded = Path(output).expanduser()
    here = Path.cwd().resolve()
    real = (here / expanded).resolve()
    if real == here or not real.is_relative_to(here):
        shown = "" if str(real) == output else f" (that is {real})"
        raise PeftkitError(f"recipe {path}: output {output!r}{shown} must be a path inside the working directory "
                           f"{here}; pass --output to write elsewhere")
    return str(expanded)


def _yaml_error(path: Path, error: yaml.YAMLError) -> PeftkitError:
    """A syntax error, or a tag such as ``!!python/object`` that safe_load refuses, named with its line."""
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark else ""
    tag = re.search(r"constructor for the tag '([^']+)'", str(getattr(error, "problem", "") or ""))
    if isinstance(error, yaml.constructor.ConstructorError) and tag:
        name = tag.group(1).replace("tag:yaml.org,2002:", "!!")
        return PeftkitError(f"recipe {path} uses the YAML tag {name}{where}, which recipes may not use (a recipe is "
                            "data only: peftkit never builds Python objects from it); remove the tag")
    return PeftkitError(f"recipe {path} is not valid YAML{where}; fix the syntax")


def load_recipe(path: str | Path) -> dict[str, Any]:
    """Parse and validate a recipe; returns a plain dict with 'strategies' as [(spec, overrides)]."""
    path = Path(path)
    try:
        data = yaml.safe_load(read_user_text(path))
    except OSError as e:
        raise PeftkitError(f"cannot read recipe {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise _yaml_error(path, e) from None
    if not isinstance(data, dict):
        raise PeftkitError(f"recipe {path} must be a mapping of keys to values, got {type(data).__name__}")
    recipe: dict[str, Any] = {}
    for key, value in data.items():
        if key not in SCHEMA:
            raise PeftkitError(f"recipe {path}: unknown key '{key}'; valid keys: {', '.join(SCHEMA)}")
        if value is None:
            continue
        types, what = SCHEMA[key]
        _check_type(f"recipe {path}", key, value, types, what)
        recipe[key] = value
    if "seeds" in recipe:
        seeds = recipe["seeds"] if isinstance(recipe["seeds"], list) else [recipe["seeds"]]
        for s in seeds:
            _check_type(f"recipe {path}", "seeds", s, (int,), "a list of ints")
        recipe["seeds"] = seeds
    for key, choices in {"profile": tuple(PROFILES), "search": SEARCHES, **CHOICES}.items():
        if key in recipe and recipe[key] not in choices:
            raise PeftkitError(f"recipe {path}: '{key}' must be one of {', '.join(choices)}, got {recipe[key]!r}")
    if "output" in recipe:
        recipe["output"] = _output_inside(path, recipe["output"])
    for grid in ("search_grid", "epochs_grid"):
        for factor in recipe.get(grid, ()):
            _check_type(f"recipe {path}", grid, factor, (int, float), "a list of positive numbers")
    if "strategies" in recipe:
        recipe["strategies"] = [_strategy_entry(path, i, e) for i, e in enumerate(recipe["strategies"])]
    return recipe


def _strategy_entry(path: Path, index: int, entry: Any) -> tuple[str, dict[str, Any]]:
    where = f"recipe {path}: strategies[{index}]"
    if isinstance(entry, str):
        return entry, {}
    if not isinstance(entry, dict) or "spec" not in entry:
        raise PeftkitError(f"{where} must be a SPEC string or a mapping with 'spec', got {entry!r}")
    for key, value in entry.items():
        if key not in STRATEGY_KEYS:
            raise PeftkitError(f"{where}: unknown key '{key}'; valid keys: {', '.join(STRATEGY_KEYS)}")
        types, what = ((str,), "a SPEC string") if key == "spec" else SCHEMA[key]
        _check_type(where, key, value, types, what)
    return entry["spec"], {k: v for k, v in entry.items() if k != "spec"}
