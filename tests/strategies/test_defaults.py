"""Training defaults per task (Strategy.defaults_for): a run of a task takes that task's own defaults where its
strategy declares them, the strategy's defaults otherwise; the run id, the search grid and `peftkit list`
follow the same ones. On small data the epochs follow the defaults' steps rule (TrainDefaults.epochs_for)."""

import math
from dataclasses import replace

import pytest

from peftkit.cli import cli
from peftkit.compare import StrategyRun
from peftkit.registry import list_strategies, strategy_class
from peftkit.search import candidates, plan
from peftkit.strategies.base import TrainDefaults
from peftkit.tasks import DEFAULT_TASK, TASKS
from peftkit.training import RunConfig

TOKENS = "token-classification"


@pytest.mark.parametrize("name", list_strategies())
def test_each_task_resolves_its_own_defaults(name):
    cls = strategy_class(name)
    assert set(cls.task_defaults) <= set(TASKS) - {DEFAULT_TASK}, "defaults are sequence classification's own"
    for task in (None, *TASKS):
        own = cls.defaults_for(task)
        assert own is cls.task_defaults.get(task, cls.defaults) and own.source, (name, task)
        config = RunConfig(model="m", dataset="d", strategy=name, task=task)
        assert config.resolved().learning_rate == own.learning_rate
        assert config.resolved().epochs == own.epochs
        given = replace(config, learning_rate=0.123).resolved()  # a rate the user gives beats every default
        assert given.learning_rate == 0.123


def test_a_task_default_changes_the_run_id_and_centres_the_search_on_it():
    lora = strategy_class("lora")
    assert lora.defaults_for(TOKENS).learning_rate != lora.defaults.learning_rate  # the evidence in search-conll
    sentence = RunConfig(model="m", dataset="d", strategy="lora")
    tokens = replace(sentence, task=TOKENS)
    assert sentence.run_id() != tokens.run_id()
    pinned = replace(tokens, learning_rate=lora.defaults_for(TOKENS).learning_rate)
    assert pinned.run_id() == tokens.run_id()  # the same resolved run: a searched rate equal to it is found
    (p,) = plan(tokens, [StrategyRun("lora")], seed=0, grid=(1 / 3, 1, 3))
    assert [c.learning_rate for c in p.configs] == candidates(lora.defaults_for(TOKENS).learning_rate, (1 / 3, 1, 3))
    assert p.default_lr == lora.defaults_for(TOKENS).learning_rate


def test_qlora_keeps_loras_task_defaults():
    lora, qlora = strategy_class("lora"), strategy_class("qlora")
    assert set(qlora.task_defaults) == set(lora.task_defaults)
    for task, own in lora.task_defaults.items():
        assert replace(qlora.task_defaults[task], source=own.source) == own


def test_list_shows_what_a_task_changes():
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["list"], terminal_width=400)
    assert result.exit_code == 0, result.output
    lora = strategy_class("lora").defaults_for(TOKENS)
    assert f"{TOKENS}: lr {lora.learning_rate:g}" in result.output


def test_the_steps_rule_takes_whole_epochs_up_to_its_cap():
    rule = TrainDefaults(1e-3, epochs=3.0, min_steps=600, max_epochs=20.0)
    assert rule.epochs_for(None) == 3.0  # the data's size not known yet: the epochs as declared
    assert rule.epochs_for(200) == 3.0  # 3 epochs of 200 steps are enough
    assert rule.epochs_for(63) == 10.0  # 1,000 examples at batch 16: the fewest whole epochs with 600 steps
    assert rule.epochs_for(10) == 20.0  # at most 20
    assert TrainDefaults(1e-3).epochs_for(10) == 3.0  # no rule: the same epochs at every size
    with pytest.raises(ValueError):
        TrainDefaults(1e-3, epochs=30.0, min_steps=10)  # a cap under the epochs


@pytest.mark.parametrize("name", list_strategies())
def test_a_run_follows_its_strategys_steps_rule_once_the_data_size_is_known(name):
    for task in (None, *TASKS):
        own = strategy_class(name).defaults_for(task)
        assert own.max_epochs >= own.epochs and own.min_steps >= 0
        assert not own.min_steps or own.steps_source, f"{name}: a steps rule says what it comes from"
        config = RunConfig(model="m", dataset="d", strategy=name, task=task)
        large = replace(config, train_examples=10 ** 6)  # the rule never shortens a run: the ids stay
        assert large.resolved().epochs == config.resolved().epochs == own.epochs
        assert large.run_id() == config.run_id() and "train_examples" not in large.identity()
        small = replace(config, train_examples=160)  # 10 optimizer steps an epoch
        assert small.steps_per_epoch() == 10
        expected = min(own.max_epochs, max(own.epochs, math.ceil(own.min_steps / 10)))
        assert small.resolved().epochs == expected and small.optimizer_steps() == expected * 10
        assert (small.run_id() != config.run_id()) == (expected != own.epochs)  # the id says the epochs it trains
        assert replace(small, epochs=2.0).resolved().epochs == 2.0  # epochs given by hand are kept
        assert replace(small, gradient_accumulation_steps=2).steps_per_epoch() == 5


def test_the_adaptive_strategies_have_a_steps_rule():
    """The evidence (benchmarks/results/grid-*) says these under-train at three epochs of small data."""
    for name in ("lora", "adapter", "prompt", "prefix", "full"):
        assert strategy_class(name).defaults.min_steps > 0, name


def test_list_shows_the_steps_rule():
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["list"], terminal_width=400)
    assert result.exit_code == 0, result.output
    lora = strategy_class("lora").defaults
    assert f"small data: {lora.min_steps}+ steps, up to {lora.max_epochs:g} epochs" in result.output
    assert "same epochs at every data size" in result.output  # a strategy without a rule says so
