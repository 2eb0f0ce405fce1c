import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import peftkit
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


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["lora", "adapter", "prefix", "prompt", "gradual", "ia3"]),
       st.dictionaries(st.sampled_from(["r", "alpha", "dropout", "variant", "reduction_factor", "num_virtual_tokens",
                                        "projection", "lr_decay", "unit", "init", "bottleneck"]),
                       st.one_of(st.text(max_size=6), st.integers(-5, 50), st.floats(allow_nan=True)), max_size=3))
def test_any_options_give_a_strategy_or_a_clear_error(name, options):
    try:
        peftkit.get_strategy(name, **options)
    except peftkit.PeftkitError as e:
        assert str(e)
