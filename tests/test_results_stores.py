"""Every committed results store (``benchmarks/results/*/`` with a ``runs/`` folder) still answers
"nothing to do" to its own command: its runs are named (run ids) as the code names them today.

A store's own commands are those its records ran with ``--output`` set to it (``run_info.command``;
``benchmarks/reference.py`` records the ``compare`` command it ran). Each is planned by the code the
command line uses (``cli_compare.plan_command_line``: click's parsing, then ``compare.plan_comparison``),
without loading a model (the task is settled as ``compare`` settles it, from the data's format when not
given, and the data is loaded for its sizes, which the default epochs follow), and every run it would look
for, and every search run, must be there.

A store made before a strategy's default learning rate (for the store's task) changed names that strategy's runs by the
rate of its day: those runs are looked for at a rate the store's records ran at, and the strategy's
records must then name other defaults (``hyperparameter_source``) than today's. A store made before the
steps rule (its records have no ``train_examples``) is planned without it. Stores are found, not
listed: superseded ones may be removed. A store of a sweep still running (committed as its runs finish)
names the strategies it has not run yet in a ``PENDING`` file; those must have no run there yet, the others
must all be there.
"""

import json
import shlex
from dataclasses import replace
from pathlib import Path

import pytest

from peftkit import search
from peftkit.cli_compare import plan_command_line
from peftkit.compare import with_train_sizes
from peftkit.registry import strategy_from_spec
from peftkit.training import RunConfig

REPO = Path(__file__).resolve().parents[1]
STORES = sorted(d for d in (REPO / "benchmarks" / "results").glob("*/") if (d / "runs").is_dir())


def _records(directory: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


OUTPUT_FLAGS = ("--output", "-o")


def _own_commands(store: Path, records: list[dict]) -> list[list[str]]:
    """The arguments after ``compare`` of every command that wrote into ``store``, in first-seen order. A
    store may be merged from parts that ran side by side into ``<store>-<part>`` (their runs copied into
    it, as its README says): a part's command answers for the store, with the store as its output."""
    commands: dict[tuple[str, ...], list[str]] = {}
    for record in records:
        words = shlex.split(record["run_info"]["command"])
        if "compare" not in words:
            continue
        args = words[words.index("compare") + 1:]
        outputs = [i for i, word in enumerate(args) if word in OUTPUT_FLAGS]
        if not outputs:
            continue
        written = (REPO / args[outputs[-1] + 1]).resolve()  # the last one counts, as on the command line
        if written == store.resolve() or (written.parent == store.resolve().parent
                                          and written.name.startswith(store.name + "-")):
            kept = [word for i, word in enumerate(args) if i not in outputs and i - 1 not in outputs]
            args = [*kept, "--output", str(store.relative_to(REPO))]
            commands.setdefault(tuple(args), args)
    return list(commands.values())


def _planned(comparison, run, searched: dict[str, dict]) -> tuple[set[str], set[str]]:
    """(run ids, search run ids) that `compare` looks for, for one strategy of ``comparison``: the runs
    at the rate that search chose from what ``searched`` holds, as run_comparison plans them."""
    one = replace(comparison, strategies=[run])
    plans = one.search_plans()
    chosen = search.chosen_settings(plans, searched)
    return {c.run_id() for c in one.runs(chosen)}, {c.run_id() for p in plans for c in p.configs}


def _rates_of_the_day(name: str, records: list[dict], grid) -> list[float]:
    """The default rates a store's runs of strategy ``name`` may have been made with: the rates they ran
    at and, for a search, those over each of the grid's factors."""
    rates = [r["run_info"]["config"]["learning_rate"] for r in records
             if strategy_from_spec(r["run_info"]["config"]["strategy"]).name == name]
    return list(dict.fromkeys([*rates, *(search.round_rate(r / f) for r in rates for f in grid or ())]))


def _before_the_steps_rule(name: str, records: list[dict]) -> bool:
    """Whether a store's runs of strategy ``name`` were made before the steps rule (TrainDefaults.min_steps):
    their configs have no ``train_examples``, which every run has recorded since. Such runs trained the
    declared epochs at every data size, and are looked for so."""
    return not any("train_examples" in r["run_info"]["config"] for r in records
                   if strategy_from_spec(r["run_info"]["config"]["strategy"]).name == name)


PENDING = "PENDING"  # a store of a sweep in progress lists the SPECs its command has not run yet, one a line


def _pending(store: Path) -> set[str]:
    path = store / PENDING
    return {line.strip() for line in path.read_text().splitlines() if line.strip()} if path.exists() else set()


@pytest.mark.parametrize("store", STORES, ids=lambda p: p.name)
def test_every_record_is_named_by_its_config(store):
    """A stored config (old records say eval_split "train-holdout" for the held-out runs) loads and
    gives the run id its file is named by."""
    for directory in (store / "runs", store / "search" / "runs"):
        for run_id, record in _records(directory).items():
            assert record["run_info"]["run_id"] == run_id
            assert RunConfig.from_dict(record["run_info"]["config"]).run_id() == run_id, directory / run_id


@pytest.mark.parametrize("store", STORES, ids=lambda p: p.name)
def test_store_answers_nothing_to_do_to_its_own_command(store, monkeypatch):
    runs, searched = _records(store / "runs"), _records(store / "search" / "runs")
    every = [*runs.values(), *searched.values()]
    commands = _own_commands(store, every)
    assert commands, f"no record of {store.name} names a `compare` command with --output {store.name}"
    monkeypatch.chdir(REPO)  # the commands ran from the repository root (a dataset says its task from there)
    for args in commands:
        shown = "compare " + " ".join(args)
        plan = plan_command_line(args)
        # the task, as compare settles it before it looks in the store (given, or what the dataset's format
        # says), and the training data's sizes, which the default epochs follow (the steps rule)
        comparison = with_train_sizes(replace(plan, base=plan.base.with_task()))
        assert (REPO / comparison.output).resolve() == store.resolve(), shown
        if "--allow-mixed" not in args:  # comparison.json must match, or compare refuses the store
            assert comparison.shared() == json.loads((store / "comparison.json").read_text()), shown
            if comparison.search_grid:
                assert comparison.shared() == json.loads((store / "search" / "comparison.json").read_text()), shown
        pending = _pending(store)
        for run in comparison.strategies:
            if run.spec in pending:  # a sweep still running: not one of its runs may be there yet
                ids, _ = _planned(comparison, run, searched)
                assert not ids & set(runs), f"{store.name}: {run.spec} has runs: take it out of {PENDING}"
                continue
            cls = type(strategy_from_spec(run.spec))
            defaults = cls.defaults_for(comparison.base.task)  # the store's task's
            if _before_the_steps_rule(cls.name, every):
                defaults = replace(defaults, min_steps=0)
            today = defaults.learning_rate
            found = None
            for rate in [today, *_rates_of_the_day(cls.name, every, comparison.search_grid)]:
                with monkeypatch.context() as m:
                    m.setattr(cls, "defaults_for", classmethod(lambda _c, _t, r=rate: replace(defaults, learning_rate=r)))
                    ids, search_ids = _planned(comparison, run, searched)
                if ids <= set(runs) and search_ids <= set(searched):
                    found = rate
                    break
            if found is None:
                ids, search_ids = _planned(comparison, run, searched)
                missing = sorted(ids - set(runs)) + sorted(search_ids - set(searched))
                pytest.fail(f"{store.name}: `{shown}` would train {run.spec} again: {missing} are not in the store")
            if found != today:
                sources = {r["run_info"]["hyperparameter_source"] for r in every
                           if strategy_from_spec(r["run_info"]["config"]["strategy"]).name == cls.name}
                assert sources - {defaults.source}, (
                    f"{store.name}: {run.spec} is found only at the rate {found:g}, not today's default {today:g}, "
                    "yet its records name today's defaults")
