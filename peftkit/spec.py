"""SPEC strings: ``name`` or ``name:key=value,key=value``.

List values use ``+`` (``lora:target_modules=query+value``) or brackets
(``lora:target_modules=[query,value]``). Values stay strings here; the strategy's option dataclass
coerces and validates them.
"""

from __future__ import annotations

import re

from .errors import SpecError

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _split_pairs(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise SpecError("unbalanced ']'")
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth != 0:
        raise SpecError("unbalanced '['")
    parts.append("".join(current))
    return parts


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split a SPEC into (strategy name, {option: raw string value})."""
    if not isinstance(spec, str):
        raise SpecError(f"a SPEC must be a string, got {type(spec).__name__}")
    example = "write it as name or name:key=value,key=value (e.g. lora:r=16,alpha=32)"
    text = spec.strip()
    name, sep, rest = text.partition(":")
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise SpecError(f"malformed SPEC {spec!r}: strategy name {name!r} is not a name; {example}")
    options: dict[str, str] = {}
    if not sep:
        return name, options
    if not rest.strip():
        raise SpecError(f"malformed SPEC {spec!r}: nothing after ':'; {example}")
    try:
        pairs = _split_pairs(rest)
    except SpecError as e:
        raise SpecError(f"malformed SPEC {spec!r}: {e}; {example}") from None
    for pair in pairs:
        key, eq, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not _KEY.fullmatch(key) or not value:
            raise SpecError(f"malformed SPEC {spec!r}: {pair.strip()!r} is not key=value; {example}")
        if key in options:
            raise SpecError(f"malformed SPEC {spec!r}: option '{key}' given twice")
        options[key] = value
    return name, options
