"""The one registry of strategies.

Built-in strategies register themselves with ``@register_strategy`` when ``peftkit.strategies`` is
imported. Third parties do the same from their own code, or declare an entry point in the
``peftkit.strategies`` group pointing at a Strategy subclass (or a module that registers on import).
"""

from __future__ import annotations

import inspect
from importlib.metadata import entry_points
from typing import Any, TypeVar

from .errors import PeftkitError, UnknownStrategyError

ENTRY_POINT_GROUP = "peftkit.strategies"
ALL = "all"  # `-s all`: every registered strategy
FAMILY = "family"  # `-s family:NAME`: the strategies of one family (strategies/base.py FAMILIES)
GROUP_WORDS = (ALL, FAMILY)

_REGISTRY: dict[str, type] = {}
_loaded = False

S = TypeVar("S", bound=type)

def register_strategy(cls: S | None = None, *, name: str | None = None, replace: bool = False) -> Any:
    """Register a Strategy subclass, as ``@register_strategy`` or ``register_strategy(MyStrategy)``."""

    def _register(klass: S) -> S:
        from .strategies.base import Strategy

        if not (inspect.isclass(klass) and issubclass(klass, Strategy)):
            raise TypeError(f"{klass!r} is not a peftkit Strategy subclass")
        from .strategies.base import FAMILIES

        key = name or getattr(klass, "name", None)
        if not key or not isinstance(key, str):
            raise TypeError(f"{klass.__name__} needs a class attribute 'name'")
        if key in GROUP_WORDS:
            raise PeftkitError(f"'{key}' cannot name a strategy: `-s {key}` selects a group of strategies")
        if klass.family not in FAMILIES:
            raise PeftkitError(f"strategy '{key}': family '{klass.family}' is not one of {', '.join(FAMILIES)}")
        if key in _REGISTRY and _REGISTRY[key] is not klass and not replace:
            raise PeftkitError(f"a strategy named '{key}' is already registered ({_REGISTRY[key].__module__})")
        klass.name = key
        _REGISTRY[key] = klass
        return klass

    return _register(cls) if cls is not None else _register

def unregister_strategy(name: str) -> None:
    _REGISTRY.pop(name, None)

def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    from . import strategies  # noqa: F401  (registers the built-ins)
    from .strategies.base import Strategy

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as e:  # a broken plugin must not break peftkit
            import warnings

            warnings.warn(f"peftkit: could not load strategy plugin '{ep.name}' ({ep.value}): {e}")
            continue
        if inspect.isclass(obj) and issubclass(obj, Strategy) and obj.name not in _REGISTRY:
            register_strategy(obj)

def list_strategies() -> list[str]:
    """Names of all registered strategies, core ones first, in registration order."""
    _load()
    core = [n for n, c in _REGISTRY.items() if c.core]
    return core + [n for n in _REGISTRY if n not in core]

def core_strategies() -> list[str]:
    _load()
    return [n for n, c in _REGISTRY.items() if c.core]

def strategy_class(name: str) -> type:
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownStrategyError(
            f"unknown strategy '{name}'; valid strategies: {', '.join(list_strategies())}"
        ) from None

def get_strategy(name: str, **options: Any):
    """Build a strategy by name; unknown names and options raise an error listing the valid ones."""
    return strategy_class(name).from_options(**options)

def strategy_from_spec(spec: str):
    """Build a strategy from a SPEC string such as ``lora:r=16,alpha=32``."""
    from .spec import parse_spec

    name, options = parse_spec(spec)
    return get_strategy(name, **options)


def strategies_in_family(family: str) -> list[str]:
    """Names of the registered strategies of ``family``, in ``list_strategies`` order."""
    from .strategies.base import FAMILIES

    if family not in FAMILIES:
        raise UnknownStrategyError(f"unknown family '{family}' in `-s {FAMILY}:{family}`; families: {', '.join(FAMILIES)}")
    return [n for n in list_strategies() if _REGISTRY[n].family == family]


def expand_groups(specs) -> list[str]:
    """SPECs with the group words replaced by their strategies: ``all`` by every registered strategy,
    ``family:NAME`` by those of that family; each strategy once, in the order given."""
    out: list[str] = []
    for spec in specs:
        head, _, rest = spec.strip().partition(":")
        if head == ALL and not rest:
            names = list_strategies()
        elif head == FAMILY:
            names = strategies_in_family(rest.strip())
        else:
            names = [spec]
        if not names:
            raise UnknownStrategyError(f"`-s {spec}`: no registered strategy is in family '{rest.strip()}'")
        out += [n for n in names if n not in out]
    return out
