"""Strategy options (peftkit/options.py) on a dataclass with every supported type: values from Python or from a
SPEC string are coerced to the annotation, and every refusal is one line naming the option and the value.
(The strategies' own options are checked through the registry in test_registry.py.)"""

from dataclasses import dataclass
from typing import Literal, Optional

import pytest

from peftkit.errors import OptionError
from peftkit.options import NoOptions, StrategyOptions, option


@dataclass
class Demo(StrategyOptions):
    count: int = option(8, "an int")
    rate: float = option(0.5, "a float")
    name: str = option("query", "a str")
    flag: bool = option(False, "a bool")
    mode: Literal["auto", "head"] = option("auto", "a choice")
    modules: tuple[str, ...] = option(("query", "value"), "a list of names")
    sizes: tuple[int, ...] = option((1,), "a list of ints")
    limit: int | None = option(None, "an int or None")
    scale: Optional[float] = option(None, "a float or None")

    def validate(self):
        self.positive("count", "limit")
        self.in_range("rate", 0, 1, low_open=True)


def coerced(**values):
    return Demo.build("demo", **values)


def refusal(**values) -> str:
    with pytest.raises(OptionError) as e:
        Demo.build("demo", **values)
    assert "\n" not in str(e.value)
    return str(e.value)


@pytest.mark.parametrize("field, value, expected", [
    ("count", "16", 16), ("count", " 7 ", 7), ("count", 3, 3),
    ("rate", "1e-1", 0.1), ("rate", 1, 1.0), ("rate", " 0.25", 0.25),
    ("name", "key", "key"),
    *[("flag", word, True) for word in ("true", "TRUE", "yes", "on", "1", True)],
    *[("flag", word, False) for word in ("false", "No", "off", "0", False)],
    ("mode", "head", "head"), ("mode", "HEAD", "head"), ("mode", "Auto", "auto"),
    ("modules", "query+key+value", ("query", "key", "value")), ("modules", "[query,key]", ("query", "key")),
    ("modules", " a , b ", ("a", "b")), ("modules", ["dense"], ("dense",)), ("modules", "a++b", ("a", "b")),
    ("sizes", "1+2", (1, 2)), ("sizes", [3, "4"], (3, 4)),
    ("limit", None, None), ("limit", "none", None), ("limit", "None", None), ("limit", "5", 5), ("limit", 5, 5),
    ("scale", "NONE", None), ("scale", "2", 2.0), ("scale", 0.5, 0.5),
])
def test_values_are_coerced_to_their_annotation(field, value, expected):
    result = getattr(coerced(**{field: value}), field)
    assert result == expected and type(result) is type(expected)


def test_defaults_are_kept_as_declared():
    assert coerced().to_dict() == {"count": 8, "rate": 0.5, "name": "query", "flag": False, "mode": "auto",
                                   "modules": ["query", "value"], "sizes": [1], "limit": None, "scale": None}


@pytest.mark.parametrize("field, value, type_name", [
    ("count", "abc", "int"), ("count", "1.5", "int"), ("count", 2.5, "int"), ("count", True, "int"),
    ("count", None, "int"),
    ("rate", "x", "float"), ("rate", "inf", "float"), ("rate", float("nan"), "float"), ("rate", False, "float"),
    ("name", "", "str"), ("name", 5, "str"),
    ("flag", "maybe", "bool"), ("flag", 1, "bool"), ("flag", "", "bool"),
    ("mode", "mean", "'auto' | 'head'"), ("mode", 1, "'auto' | 'head'"),
    ("modules", "", "list of str"), ("modules", [], "list of str"), ("modules", "+", "list of str"),
    ("modules", 3, "list of str"),
    ("sizes", "1+x", "list of int"),
    ("limit", "x", "int | None"), ("limit", 1.5, "int | None"),
    ("scale", "inf", "float | None"), ("scale", "fast", "float | None"),
])
def test_a_bad_value_names_the_option_the_type_and_the_value(field, value, type_name):
    assert refusal(**{field: value}) == f"strategy 'demo': option '{field}' must be {type_name}, got {value!r}"


def test_range_checks_name_the_option_and_the_value():
    assert refusal(count=0) == "strategy 'demo': option 'count' must be a positive number, got 0"
    assert refusal(limit="-2") == "strategy 'demo': option 'limit' must be a positive number, got -2"
    assert refusal(rate=0) == "strategy 'demo': option 'rate' must be in (0, 1], got 0.0"
    assert refusal(rate="1.5") == "strategy 'demo': option 'rate' must be in (0, 1], got 1.5"
    assert coerced(rate=1).rate == 1.0 and coerced(limit=None).limit is None  # the bounds and None pass


def test_without_build_the_error_has_no_strategy_prefix():
    with pytest.raises(OptionError) as e:
        Demo(count="abc")
    assert str(e.value) == "option 'count' must be int, got 'abc'"


def test_an_unknown_option_lists_the_valid_ones():
    assert refusal(cuont=3, rate=2) == ("unknown option 'cuont' for strategy 'demo'; valid options: count, rate, "
                                        "name, flag, mode, modules, sizes, limit, scale")
    with pytest.raises(OptionError) as e:
        NoOptions.build("bare", anything=1)
    assert str(e.value) == "unknown option 'anything' for strategy 'bare'; valid options: none"


def test_describe():
    assert Demo.describe() == [
        ("count", "int", 8, "an int"), ("rate", "float", 0.5, "a float"), ("name", "str", "query", "a str"),
        ("flag", "bool", False, "a bool"), ("mode", "'auto' | 'head'", "auto", "a choice"),
        ("modules", "list of str", ("query", "value"), "a list of names"), ("sizes", "list of int", (1,), "a list of ints"),
        ("limit", "int | None", None, "an int or None"), ("scale", "float | None", None, "a float or None"),
    ]
    assert NoOptions.describe() == []


def test_a_mutable_default_is_refused():
    with pytest.raises(TypeError, match="use a tuple or None for a mutable default"):
        option(["query"], "names")
