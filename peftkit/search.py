"""``compare --search lr`` / ``--search epochs`` / ``--search lr,epochs``: a small grid per strategy, scored
on held-out training data.

Each strategy's default rate (its task's: ``Strategy.defaults_for``) is multiplied by the rate grid's
factors (``--search-grid``, ``1/3, 1, 3`` by default), and its default epochs on this data (the steps
rule: ``TrainDefaults.epochs_for``) by the epochs grid's (``--epochs-grid``, ``1/2, 1, 2``); a search of
both tries every pair. Every candidate trains with the first seed on 90% of the training data and is
scored on the other 10% (stratified; ``RunConfig.holdout``), never on the evaluation split that the final
table reports. The best candidate by held-out score (then lower held-out loss, then the one nearer the
defaults, then fewer epochs, then the lower rate; ``best``) gives that strategy's real runs their settings,
and the report calls it chosen. A setting the user gave (``--learning-rate`` / ``--epochs``, ``--hp``, a
recipe's, global or in its strategy entry) is not searched for that strategy.

Search runs are ordinary runs in their own store, ``<output>/search/``: resumable, never
overwritten, and the source of the report's search notes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .report_metric import ACCURACY, Metric
from .tasks import get_task, task_of_records
from .errors import OptionError
from .store import ResultStore
from .settings import RunConfig

SEARCH_DIR = "search"
DEFAULT_GRID = (1 / 3, 1.0, 3.0)  # factors of the default rate
DEFAULT_EPOCHS_GRID = (0.5, 1.0, 2.0)  # factors of the default epochs
SEARCHABLE = {"lr": "learning_rate", "epochs": "epochs"}  # what --search names -> the setting it searches


def parse_search(text: str | None) -> tuple[str, ...]:
    """``--search lr,epochs`` -> ("learning_rate", "epochs"): the settings searched, in that order."""
    items = [x.strip() for x in str(text or "").split(",") if x.strip()]
    unknown = [x for x in items if x not in SEARCHABLE]
    if not items or unknown:
        raise OptionError(f"--search takes lr, epochs or lr,epochs, got {text!r}")
    return tuple(setting for name, setting in SEARCHABLE.items() if name in items)


def parse_grid(text: str | list | tuple | None, default: tuple[float, ...] = DEFAULT_GRID,
               what: str = "search grid") -> tuple[float, ...]:
    if text is None:
        return default
    items = text.split(",") if isinstance(text, str) else list(text)
    try:
        grid = tuple(float(x) for x in items if str(x).strip())
    except ValueError:
        raise OptionError(f"{what} must be comma-separated factors, e.g. 0.33,1,3; got {text!r}") from None
    if not grid or any(not (f > 0 and math.isfinite(f)) for f in grid):
        raise OptionError(f"{what} factors must be positive numbers, got {text!r}")
    return grid


def round_rate(lr: float) -> float:
    return float(f"{lr:.2g}")


def candidates(default: float, grid: tuple[float, ...]) -> list[float]:
    """The values a grid of factors gives around ``default``, two significant digits (rates and epochs alike)."""
    return sorted({round_rate(default * f) for f in grid})


@dataclass
class SearchPlan:
    spec: str
    default_lr: float
    configs: list[RunConfig]
    default_epochs: float = 3.0  # the epochs its defaults give on the held-out search's training data
    searched: tuple[str, ...] = ("learning_rate",)  # the settings its candidates vary


def plan(base: RunConfig, strategies, seed: int, grid: tuple[float, ...] | None,
         epochs_grid: tuple[float, ...] | None = None) -> list[SearchPlan]:
    """The candidates of every strategy for the settings searched (``grid``: the rate's factors, or None;
    ``epochs_grid``: the epochs', or None) that the user did not set (``--learning-rate`` / ``--epochs`` or a
    recipe's, in ``base``; ``--hp`` or a recipe's strategy entry, in its overrides). ``base.train_examples``:
    the size of the held-out search's training data, which the default epochs follow."""
    plans = []
    for run in strategies:
        config = replace(base, strategy=run.spec, seed=seed, holdout=True, **run.overrides)
        grids = {"learning_rate": grid, "epochs": epochs_grid}
        searched = tuple(k for k, g in grids.items() if g and getattr(config, k) is None)
        if not searched:
            continue
        default = config.resolved()
        values = {k: candidates(getattr(default, k), grids[k]) if k in searched else [getattr(config, k)]
                  for k in grids}
        configs = [replace(config, learning_rate=lr, epochs=epochs)
                   for lr in values["learning_rate"] for epochs in values["epochs"]]
        plans.append(SearchPlan(run.spec, default.learning_rate, configs, default.epochs, searched))
    return plans


Point = tuple[float, float]  # (learning rate, epochs) of a candidate, resolved


def best(tried: dict[Point, dict[str, Any]], default: Point, metric: Metric = ACCURACY) -> Point | None:
    """The candidate the search chooses among ``tried`` ({(rate, epochs): train_info}), or None if none
    finished ok: the best held-out score, then the lower held-out loss, then the one nearer the defaults
    (``default``), then fewer epochs, then the lower rate. The runs use it and the report names it: one rule
    for both."""
    ok = {point: info for point, info in tried.items() if info.get("status") == "ok"}
    if not ok:
        return None

    def distance(point: Point) -> float:
        return sum(abs(math.log(value / base)) for value, base in zip(point, default))

    return max(ok, key=lambda p: (*_score(ok[p], metric), -distance(p), -p[1], -p[0]))


def _score(info: dict[str, Any], metric: Metric) -> tuple:
    return (info.get(metric.key, -1.0), -(info.get("eval_loss") or math.inf))


def _point(config: RunConfig) -> Point:
    resolved = config.resolved()
    return resolved.learning_rate, resolved.epochs


def choose(plan_: SearchPlan, results: dict[str, dict[str, Any]]) -> tuple[dict[str, float] | None, dict[Point, dict]]:
    """(the searched settings chosen, {"learning_rate": .., "epochs": ..} as searched, or None if no
    candidate finished; {(rate, epochs): train_info})."""
    tried = {_point(c): results[c.run_id()]["train_info"] for c in plan_.configs if c.run_id() in results}
    chosen = best(tried, (plan_.default_lr, plan_.default_epochs), get_task(plan_.configs[0].task).primary)
    if chosen is None:
        return None, tried
    return {k: v for k, v in zip(("learning_rate", "epochs"), chosen) if k in plan_.searched}, tried


def chosen_settings(plans: list[SearchPlan], results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """{spec: the searched settings its runs use} for every plan with a finished candidate; ``results``:
    records by run id."""
    chosen = {p.spec: choose(p, results)[0] for p in plans}
    return {spec: settings for spec, settings in chosen.items() if settings is not None}


def describe(settings: dict[str, float]) -> str:
    """{"learning_rate": 0.001, "epochs": 10} -> "lr 0.001, 10 epochs"."""
    return ", ".join(f"lr {v:g}" if k == "learning_rate" else f"{v:g} epochs" for k, v in settings.items())


def notes_from(directory: str | Path) -> list[str]:
    """One line per searched strategy, from the search store of a results directory: its candidates'
    held-out scores and the one chosen."""
    store = ResultStore(Path(directory) / SEARCH_DIR)
    if not store.runs_dir.is_dir():
        return []
    per_strategy: dict[str, dict[Point, dict]] = {}
    defaults: dict[str, Point] = {}
    records = store.records()
    task = task_of_records(records)
    split, metric = None, task.primary
    for record in records:
        config = RunConfig.from_dict(record["run_info"]["config"])
        per_strategy.setdefault(config.strategy, {})[(config.learning_rate, config.epochs)] = record["train_info"]
        own = replace(config, learning_rate=None, epochs=None).resolved()  # what its defaults give on this data
        defaults[config.strategy] = (own.learning_rate, own.epochs)
        split = split or record["train_info"].get("eval_split")
    lines = [_note(spec, tried, defaults[spec], metric) for spec, tried in per_strategy.items()]
    if lines and split:
        lines.append(f"{_label(per_strategy)} scored on: {split}")
    return lines


def _label(per_strategy: dict[str, dict[Point, dict]]) -> str:
    varied = [i for i in (0, 1) if any(len({p[i] for p in tried}) > 1 for tried in per_strategy.values())]
    return "lr search" if varied in ([0], []) else "epochs search" if varied == [1] else "search"


def _note(spec: str, tried: dict[Point, dict], default: Point, metric: Metric) -> str:
    label = _label({spec: tried})
    ok = {p: i for p, i in tried.items() if i.get("status") == "ok"}
    if not ok:
        first = next(iter(tried.values()))
        return f"{label}, {spec}: no candidate finished ({first.get('error')}); defaults used"
    chosen = best(ok, default, metric)
    by_epochs_too = label != "lr search"

    def name(p: Point) -> str:
        return (f"{p[0]:g} x {p[1]:g} ep" if label == "search" else f"{p[1]:g} ep" if label == "epochs search"
                else f"{p[0]:g}")

    scores = ", ".join(f"{name(p)}: {i[metric.key]:.3f}" if i.get("status") == "ok" else f"{name(p)}: {i.get('status')}"
                       for p, i in sorted(tried.items()))
    shown = describe(dict(zip(("learning_rate", "epochs"), chosen))) if by_epochs_too else f"{chosen[0]:g}"
    return f"{label}, {spec}: {shown} chosen (held-out {metric.label} {scores})"
