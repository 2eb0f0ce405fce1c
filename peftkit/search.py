"""``compare --search lr``: a small learning-rate grid per strategy, scored on held-out training data.

Each strategy's default rate (its task's: ``Strategy.defaults_for``) is multiplied by the grid's factors (``1/3, 1, 3`` by default). Every
candidate trains with the first seed on 90% of the training data and is scored on the other 10%
(stratified; ``RunConfig.holdout``), never on the evaluation split that the final table reports.
The best rate by held-out accuracy (then lower held-out loss, then the rate nearer the default, then the
lower rate; ``best_rate``) is the rate of that strategy's real runs and the one the report calls chosen.
A strategy whose rate the user set (``--learning-rate``, ``--hp``, a recipe's ``learning_rate``, global or
in its strategy entry) is not searched.

Search runs are ordinary runs in their own store, ``<output>/search/``: resumable, never
overwritten, and the source of the report's "learning rate" notes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .report_metric import ACCURACY, Metric
from .tasks import get_task, task_of_records
from .errors import OptionError
from .registry import strategy_from_spec
from .store import ResultStore
from .settings import RunConfig

SEARCH_DIR = "search"
DEFAULT_GRID = (1 / 3, 1.0, 3.0)


def parse_grid(text: str | list | tuple | None) -> tuple[float, ...]:
    if text is None:
        return DEFAULT_GRID
    items = text.split(",") if isinstance(text, str) else list(text)
    try:
        grid = tuple(float(x) for x in items if str(x).strip())
    except ValueError:
        raise OptionError(f"search grid must be comma-separated factors, e.g. 0.33,1,3; got {text!r}") from None
    if not grid or any(not (f > 0 and math.isfinite(f)) for f in grid):
        raise OptionError(f"search grid factors must be positive numbers, got {text!r}")
    return grid


def round_rate(lr: float) -> float:
    return float(f"{lr:.2g}")


def candidates(default_lr: float, grid: tuple[float, ...]) -> list[float]:
    return sorted({round_rate(default_lr * f) for f in grid})


@dataclass
class SearchPlan:
    spec: str
    default_lr: float
    configs: list[RunConfig]


def plan(base: RunConfig, strategies, seed: int, grid: tuple[float, ...]) -> list[SearchPlan]:
    """The candidates of every strategy whose rate the user did not set (``--learning-rate`` or a recipe's
    ``learning_rate``, in ``base``; ``--hp`` or a recipe's strategy entry, in its overrides)."""
    plans = []
    for run in strategies:
        if run.overrides.get("learning_rate", base.learning_rate) is not None:
            continue
        default = strategy_from_spec(run.spec).defaults_for(base.task).learning_rate
        configs = [replace(base, strategy=run.spec, seed=seed, holdout=True,
                           **{**run.overrides, "learning_rate": lr}) for lr in candidates(default, grid)]
        plans.append(SearchPlan(run.spec, default, configs))
    return plans


def best_rate(tried: dict[float, dict[str, Any]], default_lr: float, metric: Metric = ACCURACY) -> float | None:
    """The rate the search chooses among ``tried`` ({rate: train_info}), or None if none finished ok: the
    best held-out accuracy, then the lower held-out loss, then the rate nearer the default, then the lower
    rate. The runs use it and the report names it: one rule for both."""
    ok = {lr: info for lr, info in tried.items() if info.get("status") == "ok"}
    if not ok:
        return None
    return max(ok, key=lambda lr: (*_score(ok[lr], metric), -abs(math.log(lr / default_lr)), -lr))


def _score(info: dict[str, Any], metric: Metric) -> tuple:
    return (info.get(metric.key, -1.0), -(info.get("eval_loss") or math.inf))


def choose(plan_: SearchPlan, results: dict[str, dict[str, Any]]) -> tuple[float | None, dict[float, dict]]:
    """(the chosen rate or None if no candidate finished, {rate: train_info})."""
    by_rate = {c.learning_rate: results[c.run_id()]["train_info"] for c in plan_.configs if c.run_id() in results}
    return best_rate(by_rate, plan_.default_lr, get_task(plan_.configs[0].task).primary), by_rate


def chosen_rates(plans: list[SearchPlan], results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """{spec: the rate its runs use} for every plan with a finished candidate; ``results``: records by run id."""
    chosen = {p.spec: choose(p, results)[0] for p in plans}
    return {spec: rate for spec, rate in chosen.items() if rate is not None}


def notes_from(directory: str | Path) -> list[str]:
    """One line per searched strategy, from the search store of a results directory."""
    store = ResultStore(Path(directory) / SEARCH_DIR)
    if not store.runs_dir.is_dir():
        return []
    per_strategy: dict[str, list[tuple[float, dict]]] = {}
    records = store.records()
    task = task_of_records(records)
    split, metric = None, task.primary
    for record in records:
        config = record["run_info"]["config"]
        per_strategy.setdefault(config["strategy"], []).append((config["learning_rate"], record["train_info"]))
        split = split or record["train_info"].get("eval_split")
    lines = []
    for spec, tried in per_strategy.items():
        ok = [(lr, i) for lr, i in tried if i.get("status") == "ok"]
        if not ok:
            lines.append(f"lr search, {spec}: no candidate finished ({tried[0][1].get('error')}); defaults used")
            continue
        best = best_rate(dict(ok), strategy_from_spec(spec).defaults_for(task.name).learning_rate, metric)
        scores = ", ".join(f"{lr:g}: {i[metric.key]:.3f}" if i.get("status") == "ok" else f"{lr:g}: {i.get('status')}"
                           for lr, i in sorted(tried, key=lambda t: t[0]))
        lines.append(f"lr search, {spec}: {best:g} chosen (held-out {metric.label} {scores})")
    if lines and split:
        lines.append(f"lr search scored on: {split}")
    return lines
