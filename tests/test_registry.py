import sys
import textwrap
from dataclasses import dataclass

import pytest
from tiny_models import tiny_model

import peftkit
from peftkit import registry
from peftkit.options import StrategyOptions, option
from peftkit.strategies.base import Strategy, freeze, unfreeze_head


def test_list_strategies_core_first():
    names = peftkit.list_strategies()
    assert names[:7] == ["full", "head", "gradual", "lora", "prefix", "prompt", "adapter"]
    assert {"bitfit", "ia3"} <= set(names)
    assert peftkit.core_strategies() == names[:7]


def test_unknown_strategy_lists_valid_ones():
    with pytest.raises(peftkit.UnknownStrategyError) as e:
        peftkit.get_strategy("lorra")
    assert "lorra" in str(e.value) and "lora" in str(e.value) and "adapter" in str(e.value)


def test_unknown_option_lists_valid_ones():
    with pytest.raises(peftkit.OptionError) as e:
        peftkit.get_strategy("lora", rank=4)
    assert "'rank'" in str(e.value) and "r, alpha, dropout, target_modules" in str(e.value)
    with pytest.raises(peftkit.OptionError, match="'lr' for strategy 'full'; valid options: pooling"):
        peftkit.get_strategy("full", lr=1)
    with pytest.raises(peftkit.OptionError, match="valid options: none"):
        peftkit.get_strategy("bitfit", lr=1)


@pytest.mark.parametrize("name, options, word", [
    ("lora", {"r": 0}, "positive"), ("lora", {"r": -3}, "positive"), ("lora", {"r": "abc"}, "must be int"),
    ("lora", {"r": 2.5}, "must be int"), ("lora", {"dropout": 1.5}, "dropout"),
    ("adapter", {"reduction_factor": 0}, "positive"), ("adapter", {"variant": "lorenz"}, "houlsby"),
    ("prefix", {"num_virtual_tokens": 0}, "positive"), ("prompt", {"num_virtual_tokens": -1}, "positive"),
    ("prompt", {"init": "text"}, "init_text"), ("gradual", {"lr_decay": 0}, "lr_decay"),
    ("gradual", {"unfreeze_every": 0}, "positive"), ("gradual", {"unit": "hour"}, "epoch"),
    ("prefix", {"projection": "maybe"}, "bool"),
])
def test_bad_option_values(name, options, word):
    with pytest.raises(peftkit.OptionError) as e:
        peftkit.get_strategy(name, **options)
    assert word in str(e.value) and name in str(e.value)


def _numeric_options():
    for name in registry.list_strategies():
        cls = registry.strategy_class(name)
        for option_name, type_name, default, _ in cls.Options.describe():
            if "float" in type_name or "int" in type_name:
                yield name, option_name


@pytest.mark.parametrize("name, option_name", list(_numeric_options()))
@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), "inf", "nan"])
def test_numeric_options_must_be_finite(name, option_name, value):
    """Every numeric option of every strategy, from Python or a SPEC string: inf and nan are refused by name."""
    with pytest.raises(peftkit.OptionError) as e:
        peftkit.get_strategy(name, **{option_name: value})
    assert f"option '{option_name}'" in str(e.value) and name in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(peftkit.OptionError):
        peftkit.strategy_from_spec(f"{name}:{option_name}={value}")


def test_options_from_strings_are_coerced():
    s = peftkit.strategy_from_spec("lora:r=16,alpha=32,target_modules=query+value")
    assert (s.options.r, s.options.alpha, s.options.target_modules) == (16, 32.0, ("query", "value"))
    assert s.spec() == "lora:r=16,alpha=32.0,target_modules=query+value"
    assert peftkit.strategy_from_spec(s.spec()).options == s.options
    assert peftkit.strategy_from_spec("prefix:projection=true").options.projection is True
    assert peftkit.strategy_from_spec("lora:target_modules=[query,key]").options.target_modules == ("query", "key")


@dataclass
class _ScaleOptions(StrategyOptions):
    which: str = option("classifier", "module to train")


class _HeadOnlyPlugin(Strategy):
    name = "plugin-head"
    description = "test plugin"
    Options = _ScaleOptions

    def apply(self, model):
        freeze(model)
        unfreeze_head(model)
        return self._mark(model)


def test_register_with_decorator_and_use():
    try:
        peftkit.register_strategy(_HeadOnlyPlugin)
        assert "plugin-head" in peftkit.list_strategies()
        model = peftkit.get_strategy("plugin-head").apply(tiny_model("bert"))
        assert peftkit.count_parameters(model).trainable == 32 * 3 + 3
        with pytest.raises(peftkit.PeftkitError, match="already registered"):
            @peftkit.register_strategy(name="plugin-head")
            class Other(_HeadOnlyPlugin):
                pass
        with pytest.raises(TypeError):
            peftkit.register_strategy(object)
    finally:
        peftkit.unregister_strategy("plugin-head")


def test_entry_point_plugin(tmp_path, monkeypatch):
    """A third-party package declares `[project.entry-points."peftkit.strategies"]`."""
    (tmp_path / "my_plugin.py").write_text(textwrap.dedent("""
        from peftkit.strategies.base import Strategy, freeze, unfreeze_head

        class Frozen(Strategy):
            name = "frozen-plugin"
            description = "everything frozen but the head"

            def apply(self, model):
                freeze(model)
                unfreeze_head(model)
                return self._mark(model)
    """))
    dist = tmp_path / "my_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[peftkit.strategies]\nfrozen-plugin = my_plugin:Frozen\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_loaded", False)
    try:
        assert "frozen-plugin" in peftkit.list_strategies()
        assert peftkit.get_strategy("frozen-plugin").name == "frozen-plugin"
    finally:
        peftkit.unregister_strategy("frozen-plugin")
        sys.modules.pop("my_plugin", None)


def test_every_builtin_strategy_is_in_a_family_of_the_surveys():
    from peftkit.strategies.base import FAMILIES

    families = {name: registry.strategy_class(name).family for name in peftkit.list_strategies()}
    assert {n for n, f in families.items() if f == "other"} == {"peft"}  # any peft method: no one family
    assert set(families.values()) <= set(FAMILIES)
    assert families["full"] == "full"
    assert {n for n, f in families.items() if f == "selective"} >= {"head", "gradual", "bitfit"}
    assert {n for n, f in families.items() if f == "additive"} >= {"adapter", "prefix", "prompt", "ia3"}
    assert {n for n, f in families.items() if f == "reparametrised"} >= {"lora", "qlora"}


def test_all_and_family_expand_to_registered_strategies_in_order():
    assert registry.expand_groups(["all"]) == peftkit.list_strategies()
    additive = registry.expand_groups(["family:additive"])
    assert additive == [n for n in peftkit.list_strategies() if n in additive] and "lora" not in additive
    # each strategy once, a SPEC with options kept as given
    reparametrised = registry.strategies_in_family("reparametrised")
    assert reparametrised[:2] == ["lora", "qlora"] and "loha" in reparametrised
    assert registry.expand_groups(["lora:r=4", "family:reparametrised", "lora"]) == ["lora:r=4", *reparametrised]
    with pytest.raises(peftkit.UnknownStrategyError, match="unknown family 'addditive'.*additive, reparametrised"):
        registry.expand_groups(["family:addditive"])


def test_a_group_word_or_an_unknown_family_cannot_be_registered():
    class _All(_HeadOnlyPlugin):
        name = "all"

    with pytest.raises(peftkit.PeftkitError, match="'all' cannot name a strategy"):
        peftkit.register_strategy(_All)

    class _Odd(_HeadOnlyPlugin):
        name = "odd-family"
        family = "hybrid"

    with pytest.raises(peftkit.PeftkitError, match="family 'hybrid' is not one of full, selective"):
        peftkit.register_strategy(_Odd)
    assert "all" not in peftkit.list_strategies() and "odd-family" not in peftkit.list_strategies()


def test_the_readme_table_gives_each_strategy_its_family_and_whether_it_merges():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = text[text.index("### Strategies"):].split("\n\n")[1]
    rows = {cells[1].strip("` "): (cells[2].strip(), cells[3].strip())
            for cells in (line.split("|") for line in table.splitlines()[2:])}
    assert rows == {name: (registry.strategy_class(name).family,
                           "yes" if registry.strategy_class(name)().cannot_merge() is None else "no")
                    for name in peftkit.list_strategies()}
