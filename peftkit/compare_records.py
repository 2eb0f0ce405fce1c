"""What a comparison stores and reports: one record per run (``run_info`` / ``train_info`` / ``meta_info``),
the report's rows, the data's notes once per comparison, and the reports rebuilt from a store."""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import search
from .errors import PeftkitError
from .meta import meta_info
from .registry import list_strategies, strategy_from_spec
from .settings import RunConfig
from .store import ResultStore, flat_row
from .tasks import task_of_records


def record_for(config: RunConfig, train_info: dict[str, Any], order: int,
               meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the store keeps of one run: ``run_info`` (its id and resolved config: the epochs it trained, which
    the steps rule takes from the number of training examples, ``train_info``'s where ``config`` has none),
    ``train_info`` (what it measured) and ``meta_info`` (the machine and versions: ``meta``, those of the
    process that trained it, where it reported them; else this one's)."""
    if config.train_examples is None and train_info.get("num_train_samples"):
        config = replace(config, train_examples=train_info["num_train_samples"])
    resolved = config.resolved()
    strategy = strategy_from_spec(config.strategy)
    return {
        "run_info": {"run_id": config.run_id(), "order": order, "config": resolved.to_dict(),
                     "strategy": strategy.to_dict(), "hyperparameter_source": strategy.defaults_for(config.task).source,
                     "command": " ".join(sys.argv)},
        "train_info": train_info,
        "meta_info": meta or meta_info(),
    }


def sort_rows(rows: list[dict]) -> list[dict]:
    order = {name: i for i, name in enumerate(list_strategies())}
    return sorted(rows, key=lambda r: (order.get(str(r.get("strategy")).split(":")[0], len(order)),
                                       str(r.get("strategy")), r.get("seed") or 0))


def rows_from_store(store: ResultStore) -> list[dict]:
    return sort_rows([flat_row(r) for r in store.records()])


_SEEDS = "\0seeds\0"  # where a note names its seed


def _seed_template(note: str, seed: Any) -> str:
    pattern = rf"\bseed {re.escape(str(seed))}\b"
    return re.sub(pattern, _SEEDS, note) if re.search(pattern, note) else f"{_SEEDS}: {note}"


def data_notes(records: list[dict[str, Any]]) -> list[str]:
    """The runs' data notes (held-out split, label mapping, subsets, dropped rows, truncation), once per
    comparison: a note all seeds share once, one that differs per seed with its seeds ("seeds 0, 1")."""
    by_seed: dict[Any, list[str]] = {}
    for record in records:
        info = record.get("train_info", {})
        if "data_notes" in info:  # a run that failed early has none
            seen = by_seed.setdefault(record.get("run_info", {}).get("config", {}).get("seed"), [])
            seen += [n for n in info["data_notes"] or [] if n not in seen]
    common = {n for notes in by_seed.values() for n in notes if all(n in other for other in by_seed.values())}
    shown: dict[str, list[Any]] = {}  # the note or its template -> its seeds, in the order the runs said them
    for seed, notes in by_seed.items():
        for note in notes:
            shown.setdefault(note if note in common else _seed_template(note, seed), []).append(seed)
    return [key.replace(_SEEDS, ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds)))
            for key, seeds in shown.items()]


def write_all_reports(store: ResultStore, title: str, notes: list[str]) -> dict[str, Path]:
    """report.md, results.csv, results.json and plot.png of a store, with the comparison's notes, the
    data's and the search's."""
    from .report import write_reports

    records = store.records()
    meta = records[-1]["meta_info"] if records else meta_info()
    every = [*notes, *data_notes(records), *step_notes(records), *search.notes_from(store.directory)]
    return write_reports(rows_from_store(store), store.directory, title=title, notes=list(dict.fromkeys(every)),
                         meta=meta, metric=task_of_records(records).primary)


def step_notes(records: list[dict[str, Any]]) -> list[str]:
    """The runs that took fewer optimizer steps than their strategy's defaults assume (``RunConfig.too_few_steps``),
    once per line, from what the runs stored (so that `peftkit report` says them too)."""
    notes = []
    for record in records:
        config = record.get("run_info", {}).get("config", {})
        if record.get("train_info", {}).get("status") != "ok" or config.get("train_examples") is None:
            continue  # a run that failed, or one stored before runs recorded their data's size
        try:
            notes.append(RunConfig.from_dict(config).too_few_steps())
        except (TypeError, PeftkitError):  # a record `peftkit report` can still show, but not plan again
            continue
    return list(dict.fromkeys(note for note in notes if note))
