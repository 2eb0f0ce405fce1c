"""``peftkit compare``: the same data, seeds and evaluation for every strategy, one process per run.

Read top-down: ``plan_comparison`` turns what a command asks for into a ``Comparison`` (flags beat a
recipe, which beats the profile, which beats the defaults), nothing loaded or written; ``prepare`` does
what the plan leaves to this machine (the demo's files, the launcher's notes, the checks of model and
data); ``run_comparison`` runs the search (rates, epochs) if asked, then every run the store lacks, and
rebuilds the reports.

Under a distributed launcher (``accelerate launch``, torchrun) there is no process per run: every
launched process trains each run in turn (DDP), and only the first one writes results and reports.
Peak memory is then the process's peak over the runs so far, which the report's memory column shows.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from .report_metric import ACCURACY, Metric
from .tasks import get_task
from . import search
from .errors import OptionError, PeftkitError
from .launch import distributed_world
from .recipes import PROFILES
from .registry import core_strategies, expand_groups, strategy_from_spec
from .settings import BY_NAME, HYPERPARAMETERS, SHARED_KEYS, RunConfig
from .compare_records import data_notes, rows_from_store, write_all_reports
from .execute import execute
from .parallel import SERIAL, Execution
from .parallel import plan as plan_execution
from .store import ResultStore

DEFAULT_SEEDS = "0"


# -- the plan ------------------------------------------------------------------------------------------

@dataclass
class StrategyRun:
    spec: str
    overrides: dict[str, Any] = field(default_factory=dict)  # per-strategy hyperparameters

    def __post_init__(self):
        strategy_from_spec(self.spec)  # validates name and options
        unknown = set(self.overrides) - set(HYPERPARAMETERS)
        if unknown:
            raise OptionError(f"unknown hyperparameter '{sorted(unknown)[0]}' for {self.spec}; "
                              f"valid: {', '.join(HYPERPARAMETERS)}")


@dataclass
class Comparison:
    base: RunConfig  # shared settings and global hyperparameters (its strategy is a placeholder)
    strategies: list[StrategyRun]
    seeds: list[int]
    output: Path
    notes: list[str] = field(default_factory=list)
    search_grid: tuple[float, ...] | None = None  # --search lr: factors of each default rate
    epochs_grid: tuple[float, ...] | None = None  # --search epochs: factors of each strategy's default epochs
    demo: bool = False  # the built-in demo: its model and data are written by `prepare`
    title: str = ""  # of the reports; default: "peftkit compare: <output>"
    # training examples of the runs ({holdout: n}: the comparison's own, and the held-out search's), once
    # `with_train_sizes` has loaded the data: the default epochs follow them (the steps rule), and so run ids
    train_sizes: Mapping[bool, int] = field(default_factory=dict)

    @property
    def searching(self) -> bool:
        return bool(self.search_grid or self.epochs_grid)

    def search_plans(self) -> list[search.SearchPlan]:
        """The search's candidates per strategy (none without --search)."""
        if not self.searching:
            return []
        base = replace(self.base, holdout=True, train_examples=self.train_sizes.get(True))
        return search.plan(base, self.strategies, self.seeds[0], self.search_grid, self.epochs_grid)

    def runs(self, chosen: Mapping[str, Mapping[str, float]] | None = None) -> list[RunConfig]:
        """Every (strategy, seed) run, strategies in order, seeds inside; ``chosen`` ({spec: {setting: value}},
        what the search chose) over each strategy's own settings."""
        chosen = chosen or {}
        return [replace(self.base, strategy=s.spec, seed=seed, train_examples=self.train_sizes.get(self.base.holdout),
                        **{**s.overrides, **chosen.get(s.spec, {})})
                for s in self.strategies for seed in self.seeds]

    def shared(self) -> dict[str, Any]:
        """What comparison.json holds: the settings every run shares, as the identity says them (a late
        setting at its default is absent, so that older stores match)."""
        identity = self.base.identity()
        shared = {k: identity[k] for k in SHARED_KEYS if k in identity}
        if self.search_grid:  # searched and default settings must not mix in one table
            shared["lr_search_grid"] = list(self.search_grid)
        if self.epochs_grid:
            shared["epochs_search_grid"] = list(self.epochs_grid)
        return shared


@dataclass
class Result:
    rows: list[dict]  # the report's rows, every run in the store
    reports: dict[str, Path] | None = None  # the files written (None in a process that does not write)
    data_notes: list[str] = field(default_factory=list)  # the data as the runs saw it, once per comparison
    metric: Metric = ACCURACY  # what the task ranks by


def plan_comparison(flags: Mapping[str, Any], recipe: Mapping[str, Any] | None = None) -> Comparison:
    """The comparison a command asks for; nothing is loaded, run or written.

    ``flags``: the options given on the command line, by parameter name (model, dataset, specs, seeds,
    hp, output, profile, search, search_grid and the run settings); ``recipe``: a loaded recipe. Each
    value comes from the first that has it: flags, recipe, profile, default. A strategy's own
    hyperparameters (a recipe's strategy entry, then --hp) go over the comparison's. Without a model and
    a dataset the plan is the demo, whose shorter length goes over the recipe's and the profile's, and whose
    strategies train their declared epochs (not raised by their steps rule) unless epochs are given. A bad
    value fails here, before anything is written."""
    from . import demo

    recipe = dict(recipe or {})
    profile = flags.get("profile") or recipe.get("profile") or "full"
    values = {**PROFILES[profile], **_settings_in(recipe, "recipe"), **_settings_in(flags, "cli")}
    model, dataset = flags.get("model") or recipe.get("model"), flags.get("dataset") or recipe.get("dataset")
    seeds = parse_seeds(flags["seeds"]) if "seeds" in flags else recipe["seeds"] if "seeds" in recipe else \
        parse_seeds(DEFAULT_SEEDS)
    if (model is None) != (dataset is None):
        raise PeftkitError("give both --model and --dataset, or neither for the built-in demo")
    strategies = _strategies(flags.get("specs"), recipe.get("strategies"), parse_overrides(flags.get("hp", ())))
    is_demo = model is None
    if is_demo and "max_length" not in flags:
        values["max_length"] = demo.MAX_LENGTH
    if is_demo and "epochs" not in values:  # the demo's budget: minutes; its notes name the strategies it leaves short
        for run in strategies:
            run.overrides.setdefault("epochs", demo.epochs_of(run.spec))
    base = RunConfig(model=model or "demo", dataset=dataset or "demo", strategy="full", **values)
    for run in strategies:  # validated before anything is written
        replace(base, strategy=run.spec, **run.overrides)
    grid, epochs = _search_grids(flags, recipe)
    output = (flags.get("output") or recipe.get("output")
              or ("peftkit-runs/demo" if is_demo else f"peftkit-runs/{_slug(model)}-{_slug(dataset)}"))
    notes = [] if profile == "full" else [
        f"profile {profile}: " + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in PROFILES[profile].items())
        + " (flags override); use it to rank, not to report final numbers"]
    return Comparison(base=base, strategies=strategies, seeds=seeds, output=Path(output), notes=notes,
                      search_grid=grid, epochs_grid=epochs, demo=is_demo,
                      title=f"peftkit compare: {output}")  # the output as typed


def _search_grids(flags: Mapping[str, Any], recipe: Mapping[str, Any]) -> tuple[tuple | None, tuple | None]:
    """(the rate's factors, the epochs' factors) of ``--search`` (None: not searched); a grid given for a
    setting not searched is refused."""
    search_on = flags.get("search") or recipe.get("search")
    searched = search.parse_search(search_on) if search_on else ()
    given = {name: flags.get(name) or recipe.get(name) for name in ("search_grid", "epochs_grid")}
    grid = search.parse_grid(given["search_grid"]) if "learning_rate" in searched else None
    if given["search_grid"] and grid is None:
        raise PeftkitError("--search-grid needs --search lr (or lr,epochs)")
    epochs = (search.parse_grid(given["epochs_grid"], search.DEFAULT_EPOCHS_GRID, "epochs grid")
              if "epochs" in searched else None)
    if given["epochs_grid"] and epochs is None:
        raise PeftkitError("--epochs-grid needs --search epochs (or lr,epochs)")
    return grid, epochs


def prepare(comparison: Comparison) -> Comparison:
    """What the plan leaves to this machine, before any store is written: the demo's model and data
    (written under the output), the launcher's notes, and ``preflight``: a model or dataset that cannot
    load, or a length a strategy cannot take, fails here. The task is settled here too, from the data if
    not given."""
    from . import demo
    from .launch import launch_notes
    from .training import preflight

    if comparison.demo:
        model, dataset, notes = demo.prepare(comparison.output)
        comparison = replace(comparison, base=replace(comparison.base, model=model, dataset=dataset),
                             notes=[*notes, *comparison.notes])
    # the task, named or as the data's format says: the runs, the store and the ranking metric are the task's
    base, _, data = preflight(comparison.base, tuple(run.spec for run in comparison.strategies))
    comparison = with_train_sizes(replace(comparison, base=base), data)
    return replace(comparison, notes=[*comparison.notes, *launch_notes(), *step_notes(comparison)])


def with_train_sizes(comparison: Comparison, data=None) -> Comparison:
    """``comparison`` (its task settled) with the sizes of its training data: of its own runs and, for a
    search, of the held-out search's; ``data``: the data of ``comparison.base``, if loaded already."""
    from .training import load_data

    sizes = {}
    for holdout in dict.fromkeys([comparison.base.holdout, *([True] if comparison.searching else [])]):
        if data is None or holdout != comparison.base.holdout:
            data = load_data(replace(comparison.base, holdout=holdout))
        sizes[holdout] = len(data.train)
    return replace(comparison, train_sizes=sizes)


def step_notes(comparison: Comparison) -> list[str]:
    """One line per strategy whose runs take fewer optimizer steps than its defaults assume (the steps
    rule, ``TrainDefaults.min_steps``): epochs the user set, or the rule's own cap on very small data."""
    notes = (config.too_few_steps() for config in comparison.runs()[::len(comparison.seeds)])
    return [note for note in notes if note]


def run_comparison(comparison: Comparison, console, *, allow_mixed: bool = False,
                   execution: Execution = SERIAL) -> Result:
    """Run what is not in the store yet (after the search, if asked), spread as ``execution`` says, then rebuild
    the reports (in the first process only). A comparison not through ``prepare`` has its data's sizes settled
    here: without them the run ids could not say the epochs the runs train."""
    if not comparison.train_sizes:
        comparison = with_train_sizes(replace(comparison, base=comparison.base.with_task()))
    world, rank = distributed_world()
    if rank != 0:  # under a launcher every process trains each run; only the first one reports and writes
        console = type(console)(quiet=True)
    store = ResultStore(comparison.output)
    store.prepare(comparison.shared(), allow_mixed=allow_mixed)
    from rich.markup import escape

    execution, how = plan_execution(execution, comparison.runs(), world)
    for note in [*comparison.notes, *how]:  # one line each, unwrapped: a note is read in logs and grepped for
        console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True, highlight=False)
    chosen = _search(comparison, console, world, rank, allow_mixed, execution) if comparison.searching else {}
    execute(store, comparison.runs(chosen), console, world, rank, "all runs", execution)
    rows = rows_from_store(store)
    if rank != 0:
        return Result(rows)
    title = comparison.title or f"peftkit compare: {comparison.output}"
    reports = write_all_reports(store, title=title, notes=comparison.notes)
    return Result(rows, reports, data_notes(store.records()), get_task(comparison.base.task).primary)


def check_finished(rows: list[dict], output: Path) -> None:
    """A sweep in which no run finished ok exits non-zero, with why, in one line."""
    if not rows or any(r.get("status") == "ok" for r in rows):
        return
    reasons: dict[str, list[str]] = {}
    for r in rows:
        reasons.setdefault(r.get("status") or "failed", []).append(str(r.get("error") or "no reason recorded"))
    parts = [f"{len(found)} {status} (e.g. {found[0].splitlines()[0][:160]})" for status, found in reasons.items()]
    raise PeftkitError(f"no run finished ok: {'; '.join(parts)}; details in {output / 'report.md'} and "
                       f"{output / 'logs'}")


# -- planning: what the flags and the recipe say ---------------------------------------------------------

def _settings_in(source: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The run settings that ``source`` (a recipe, or the flags given) may set: those declared for it."""
    return {k: v for k, v in source.items() if k in BY_NAME and getattr(BY_NAME[k], where)}


def default_strategies() -> list[StrategyRun]:
    return [StrategyRun(name) for name in core_strategies()]


def _strategies(specs, recipe_strategies, overrides: dict[str, dict[str, float]]) -> list[StrategyRun]:
    """-s SPEC, else the recipe's strategies, else the core ones (``all`` and ``family:NAME`` expanded); each
    with its --hp settings."""
    if specs:
        strategies = [StrategyRun(s) for s in expand_groups(specs)]
    elif recipe_strategies:
        strategies = [StrategyRun(name, dict(o)) for s, o in recipe_strategies for name in expand_groups([s])]
    else:
        strategies = default_strategies()
    for run in strategies:  # --hp NAME.KEY goes to every SPEC of that strategy, --hp SPEC.KEY to that one, over it
        run.overrides.update({**overrides.get(run.spec.split(":")[0], {}), **overrides.get(run.spec, {})})
    named = {run.spec for run in strategies} | {run.spec.split(":")[0] for run in strategies}
    unknown = [target for target in overrides if target not in named]
    if unknown:
        raise PeftkitError(f"--hp names strategy '{unknown[0]}', which is not in this comparison")
    return strategies


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.replace(" ", "").split(",") if s != ""]
    except ValueError:
        raise PeftkitError(f"--seeds must be comma-separated integers like 0,1,2, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise PeftkitError(f"--seeds must list distinct integers like 0,1,2, got {text!r}")
    return seeds


def parse_overrides(items) -> dict[str, dict[str, float]]:
    """--hp lora.learning_rate=1e-3 -> {"lora": {"learning_rate": 0.001}}; the target may be a SPEC with
    options (--hp lora:r=4.learning_rate=1e-3): the value follows the last "=", the key the last "." before it."""
    out: dict[str, dict[str, float]] = {}
    for item in items:
        target, eq, value = item.rpartition("=")
        strategy, dot, key = target.rpartition(".")
        if not eq or not dot or key not in HYPERPARAMETERS:
            raise PeftkitError(f"--hp expects STRATEGY.KEY=VALUE with KEY one of {', '.join(HYPERPARAMETERS)}, "
                               f"got {item!r}")
        try:
            number = (int if BY_NAME[key].type is int else float)(value)
        except ValueError:
            raise PeftkitError(f"--hp {item}: {value!r} is not a number") from None
        if not math.isfinite(number):
            raise PeftkitError(f"--hp {item}: {value!r} is not a finite number")
        out.setdefault(strategy, {})[key] = number
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", Path(text.rstrip("/")).name or text).strip("-") or "run"


# -- the search --------------------------------------------------------------------------------------------

def _search(comparison: Comparison, console, world: int, rank: int, allow_mixed: bool,
            execution: Execution) -> dict[str, dict[str, float]]:
    """Run the search's candidates that its store lacks; return the chosen settings, {spec: {setting: value}}."""
    store = ResultStore(comparison.output / search.SEARCH_DIR)
    store.prepare(comparison.shared(), allow_mixed=allow_mixed)
    plans = comparison.search_plans()
    what = " and ".join(name for name, grid in (("learning-rate", comparison.search_grid),
                                                ("epochs", comparison.epochs_grid)) if grid)
    console.print(f"{what} search: {sum(len(p.configs) for p in plans)} runs on held-out training data")
    execute(store, [c for p in plans for c in p.configs], console, world, rank, "search runs", execution)
    chosen = search.chosen_settings(plans, {r["run_info"]["run_id"]: r for r in store.records()})
    for spec, settings in chosen.items():
        console.print(f"  {spec}: {search.describe(settings)}")
    return chosen
