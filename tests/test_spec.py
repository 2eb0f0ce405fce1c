import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import peftkit
from peftkit.registry import strategy_class
from peftkit.spec import parse_spec


@pytest.mark.parametrize("spec, expected", [
    ("lora", ("lora", {})),
    ("lora:r=16,alpha=32", ("lora", {"r": "16", "alpha": "32"})),
    (" adapter : variant = pfeiffer ", ("adapter", {"variant": "pfeiffer"})),
    ("lora:target_modules=[query,value],r=4", ("lora", {"target_modules": "[query,value]", "r": "4"})),
])
def test_parse(spec, expected):
    assert parse_spec(spec) == expected


@pytest.mark.parametrize("spec", ["", ":", "lora:", "lora:r", "lora:r=", "lora:=3", "lora:r=1,r=2", "1lora",
                                  "lora:target_modules=[a,b", "lora:a=b]", "lo ra"])
def test_malformed(spec):
    with pytest.raises(peftkit.SpecError) as e:
        parse_spec(spec)
    assert "SPEC" in str(e.value) or "name" in str(e.value)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_text_gives_a_strategy_or_a_clear_error(text):
    try:
        strategy = peftkit.strategy_from_spec(text)
    except peftkit.PeftkitError as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert strategy.name in peftkit.list_strategies()


# what validate() says for each (strategy, option) when a value has the right type but is out of range
RANGES = {("lora", "r"): ["a positive number"], ("lora", "alpha"): ["a positive number"],
          ("lora", "dropout"): ["in [0.0, 1.0]", "below 1"], ("adapter", "reduction_factor"): ["a positive number"],
          ("adapter", "bottleneck"): ["a positive number"], ("prefix", "num_virtual_tokens"): ["a positive number"],
          ("prompt", "num_virtual_tokens"): ["a positive number"], ("gradual", "lr_decay"): ["in (0.0, 1.0]"]}
# the two rules that combine options
NEEDS_INIT_TEXT = ("strategy 'prompt': option 'init_text' is required when init=text, e.g. "
                   "prompt:init=text,init_text=classify the sentiment")
NEEDS_UNFREEZE_EVERY = ("strategy 'gradual': unit=step needs unfreeze_every, e.g. "
                        "gradual:unit=step,unfreeze_every=100")


def expected_error(name, option_name, value):
    """The exact line for one bad option alone, or None if that option alone is accepted."""
    try:
        peftkit.get_strategy(name, **{option_name: value})
    except peftkit.OptionError as e:
        return str(e)
    return None


def explains(message, name, options) -> bool:
    """The message is the exact type or range line of one of the given options, or one of the combined rules."""
    types = {o: type_name for o, type_name, _, _ in strategy_class(name).Options.describe()}
    for option_name, value in options.items():
        if message == f"strategy '{name}': option '{option_name}' must be {types[option_name]}, got {value!r}":
            return message == expected_error(name, option_name, value)  # the same line for that value alone
        for phrase in RANGES.get((name, option_name), []):
            head = f"strategy '{name}': option '{option_name}' must be {phrase}, got "
            if message.startswith(head):  # the value as coerced: the number the user wrote
                return float(message[len(head):]) == float(value) and message == expected_error(name, option_name, value)
    init = options.get("init")
    unit = options.get("unit")
    return ((name == "prompt" and isinstance(init, str) and init.lower() == "text" and message == NEEDS_INIT_TEXT)
            or (name == "gradual" and isinstance(unit, str) and unit.lower() == "step" and message == NEEDS_UNFREEZE_EVERY))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["lora", "adapter", "prefix", "prompt", "gradual", "ia3"]),
       st.dictionaries(st.sampled_from(["r", "alpha", "dropout", "variant", "reduction_factor", "num_virtual_tokens",
                                        "projection", "lr_decay", "unit", "init", "bottleneck"]),
                       st.one_of(st.text(max_size=6), st.integers(-5, 50), st.floats(allow_nan=True)), max_size=3))
def test_any_options_give_a_strategy_or_a_clear_error(name, options):
    valid = [o for o, _, _, _ in strategy_class(name).Options.describe()]
    unknown = [o for o in options if o not in valid]
    try:
        strategy = peftkit.get_strategy(name, **options)
    except peftkit.PeftkitError as e:
        message = str(e)
        assert "\n" not in message
        if unknown:  # the first unknown option, and every valid one
            assert message == f"unknown option '{unknown[0]}' for strategy '{name}'; valid options: {', '.join(valid)}"
        else:
            assert explains(message, name, options), message
    else:
        assert not unknown
        assert peftkit.strategy_from_spec(strategy.spec()).options == strategy.options  # what was accepted round-trips
        for option_name, value in options.items():  # each value kept as given, or coerced from its text
            assert same(getattr(strategy.options, option_name), value), (option_name, value)


def same(kept, value) -> bool:
    """``kept`` is what an accepted ``value`` means (options.py's coercion, restated)."""
    text = str(value).strip().lower()
    if isinstance(kept, bool):
        return text in ({"true", "yes", "on", "1"} if kept else {"false", "no", "off", "0"})
    if kept is None:
        return text == "none"
    if isinstance(kept, str):
        return kept == text  # a choice, matched without case
    return kept == value or float(kept) == float(value)
