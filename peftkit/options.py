"""Strategy options: dataclasses whose fields are typed, documented and validated.

A strategy declares ``Options``, a subclass of :class:`StrategyOptions`. Values may come from Python
(``get_strategy("lora", r=16)``) or from a SPEC string (``lora:r=16``), so every field is coerced to
its annotated type first (strings are parsed; ``"abc"`` for an ``int`` is an error) and then
``validate()`` checks ranges. Errors are :class:`OptionError` with the option, the value and the fix.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, fields
from typing import Any, Literal

from .errors import OptionError

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def option(default: Any, help: str) -> Any:
    """A dataclass field with a help text (shown by ``peftkit list``)."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple or None for a mutable default")
    return dataclasses.field(default=default, metadata={"help": help})


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    return "None" if tp is type(None) else getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any) -> Any:
    """Return ``value`` as type ``tp`` or raise ValueError."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None or (isinstance(value, str) and value.lower() == "none"):
            if type(None) in args:
                return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg)
            except ValueError:
                continue
        raise ValueError
    if origin is Literal:
        choices = typing.get_args(tp)
        if isinstance(value, str) and value.lower() in [str(c).lower() for c in choices]:
            return next(c for c in choices if str(c).lower() == value.lower())
        raise ValueError
    if origin is tuple:
        (item_tp, *_rest) = typing.get_args(tp)
        if isinstance(value, str):
            value = [v for v in value.replace("+", ",").strip("[]").split(",") if v.strip()]
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError
        return tuple(_coerce(v.strip() if isinstance(v, str) else v, item_tp) for v in value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise ValueError
    if tp is int:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            return int(value.strip())
        raise ValueError
    if tp is float:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, (int, float)):
            result = float(value)
        elif isinstance(value, str):
            result = float(value.strip())
        else:
            raise ValueError
        if result != result or result in (float("inf"), float("-inf")):
            raise ValueError
        return result
    if tp is str:
        if isinstance(value, str) and value:
            return value
        raise ValueError
    raise ValueError


@dataclass
class StrategyOptions:
    """Base class of every strategy's options."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            value = getattr(self, f.name)
            try:
                coerced = _coerce(value, hints[f.name])
            except (ValueError, TypeError):
                raise OptionError(
                    f"option '{f.name}' must be {_type_name(hints[f.name])}, got {value!r}"
                ) from None
            object.__setattr__(self, f.name, coerced)
        self.validate()

    def validate(self) -> None:
        """Range checks; subclasses raise OptionError via the helpers below."""

    # -- helpers for validate() ---------------------------------------------------------------
    def _require(self, condition: bool, name: str, what: str) -> None:
        if not condition:
            raise OptionError(f"option '{name}' must be {what}, got {getattr(self, name)!r}")

    def positive(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            self._require(value is None or value > 0, name, "a positive number")

    def in_range(self, name: str, low: float, high: float, *, low_open: bool = False) -> None:
        value = getattr(self, name)
        ok = value is None or ((low < value) if low_open else (low <= value)) and value <= high
        self._require(ok, name, f"in {'(' if low_open else '['}{low}, {high}]")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}

    @classmethod
    def describe(cls) -> list[tuple[str, str, Any, str]]:
        """(name, type, default, help) for each option."""
        hints = typing.get_type_hints(cls)
        return [(f.name, _type_name(hints[f.name]), f.default, f.metadata.get("help", "")) for f in fields(cls)]

    @classmethod
    def build(cls, strategy: str, **values: Any) -> "StrategyOptions":
        known = [f.name for f in fields(cls)]
        unknown = [k for k in values if k not in known]
        if unknown:
            valid = ", ".join(known) if known else "none"
            raise OptionError(f"unknown option '{unknown[0]}' for strategy '{strategy}'; valid options: {valid}")
        try:
            return cls(**values)
        except OptionError as e:
            raise OptionError(f"strategy '{strategy}': {e}") from None


@dataclass
class NoOptions(StrategyOptions):
    pass
