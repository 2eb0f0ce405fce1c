"""Training defaults per task (Strategy.defaults_for): a run of a task takes that task's own defaults where its
strategy declares them, the strategy's defaults otherwise; the run id, the search grid and `peftkit list`
follow the same ones."""

from dataclasses import replace

import pytest

from peftkit.cli import cli
from peftkit.compare import StrategyRun
from peftkit.registry import list_strategies, strategy_class
from peftkit.search import candidates, plan
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
