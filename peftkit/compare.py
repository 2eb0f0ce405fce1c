"""``peftkit compare``: the same data, seeds and evaluation for every strategy, one process per run.

Under a distributed launcher (``accelerate launch``, torchrun) there is no process per run: every
launched process trains each run in turn (DDP), and only the first one writes results and reports.
Peak memory is then the process's peak over the runs so far, which the report's memory column shows.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import OptionError
from .launch import distributed_world
from .meta import meta_info
from .registry import core_strategies, list_strategies, strategy_from_spec
from .store import ResultStore, flat_row
from .training import RunConfig
from .worker import PROGRESS, outcome, worker_dir
from .worker import command as worker_command

HYPERPARAMETERS = ("learning_rate", "epochs", "warmup", "weight_decay", "batch_size")
# Settings shared by every run of a comparison; an output directory holds one such setting only.
SHARED_KEYS = ("model", "dataset", "max_length", "max_train_samples", "max_eval_samples", "text_column",
               "text_pair_column", "label_column", "eval_split", "precision", "trust_remote_code")


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

    def by_spec(self) -> dict[str, StrategyRun]:
        return {s.spec: s for s in self.strategies}

    def runs(self) -> list[RunConfig]:
        """Every (strategy, seed) run, strategies in order, seeds inside."""
        return [replace(self.base, strategy=s.spec, seed=seed, **s.overrides)
                for s in self.strategies for seed in self.seeds]

    def shared(self) -> dict[str, Any]:
        shared = {k: getattr(self.base, k) for k in SHARED_KEYS}
        if self.search_grid:  # searched and default rates must not mix in one table
            shared["lr_search_grid"] = list(self.search_grid)
        if self.base.drop_invalid_rows:  # other data than the default's; absent when off, so older stores match
            shared["drop_invalid_rows"] = True
        return shared


def default_strategies() -> list[StrategyRun]:
    return [StrategyRun(name) for name in core_strategies()]


def record_for(config: RunConfig, train_info: dict[str, Any], order: int) -> dict[str, Any]:
    resolved = config.resolved()
    strategy = strategy_from_spec(config.strategy)
    return {
        "run_info": {"run_id": config.run_id(), "order": order, "config": resolved.to_dict(),
                     "strategy": strategy.to_dict(), "hyperparameter_source": strategy.defaults.source,
                     "command": " ".join(sys.argv)},
        "train_info": train_info,
        "meta_info": meta_info(),
    }


def run_worker(config: RunConfig, log_path: Path, on_progress) -> dict[str, Any]:
    """Run one config in a child process; return its train_info (a failed one if the child died)."""
    with worker_dir() as tmp:  # removed by the worker if this process dies, by the next compare otherwise
        config_path, result_path = Path(tmp) / "config.json", Path(tmp) / "result.json"
        config_path.write_text(json.dumps(config.to_dict()))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "w") as log:
            process = subprocess.Popen(worker_command(config_path, result_path),
                                       stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
            try:
                for line in process.stdout:
                    if line.startswith(PROGRESS):
                        _, step, total = line.split()
                        on_progress(int(step), int(total))
                    else:
                        log.write(line)
                process.wait()
            except BaseException:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise
        if result_path.exists():
            return json.loads(result_path.read_text())
    tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] if log_path.exists() else []
    reason = f"worker exited with status {process.returncode}"
    if process.returncode in (-signal.SIGKILL, 137):
        reason += " (killed: out of memory?)"
    return {"status": "failed", "error": reason + (f": {tail[0]}" if tail else "")}


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


def write_all_reports(store: ResultStore, title: str, notes: list[str]):
    from .report import write_reports

    from .search import notes_from

    records = store.records()
    meta = records[-1]["meta_info"] if records else meta_info()
    return write_reports(rows_from_store(store), store.directory, title=title,
                         notes=[*notes, *data_notes(records), *notes_from(store.directory)], meta=meta)


def run_comparison(comparison: Comparison, console, *, allow_mixed: bool = False) -> list[dict]:
    """Run what is not in the store yet (after the learning-rate search, if asked), then rebuild the
    reports. Returns the report rows."""
    from . import search

    world, rank = distributed_world()
    if rank != 0:  # under a launcher every process trains each run; only the first one reports and writes
        console = type(console)(quiet=True)
    store = ResultStore(comparison.output)
    store.prepare(comparison.shared(), allow_mixed=allow_mixed)
    for note in comparison.notes:
        console.print(f"[yellow]note:[/] {note}")
    if comparison.search_grid:
        search_store = ResultStore(comparison.output / search.SEARCH_DIR)
        search_store.prepare(comparison.shared(), allow_mixed=allow_mixed)
        plans = search.plan(comparison.base, comparison.strategies, comparison.seeds[0], comparison.search_grid)
        console.print(f"learning-rate search: {sum(len(p.configs) for p in plans)} runs on held-out training data")
        execute(search_store, [c for p in plans for c in p.configs], console, world, rank, "search runs")
        results = {r["run_info"]["run_id"]: r for r in search_store.records()}
        runs_by_spec = comparison.by_spec()
        for p in plans:
            best, _ = search.choose(p, results)
            if best is not None:
                runs_by_spec[p.spec].overrides["learning_rate"] = best
                console.print(f"  {p.spec}: learning rate {best:g}")
    execute(store, comparison.runs(), console, world, rank, "all runs")
    return rows_from_store(store)


def execute(store: ResultStore, runs: list[RunConfig], console, world: int, rank: int, title: str) -> None:
    """Run every config of ``runs`` that the store lacks, one worker process each, writing records."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    todo = [(i, c) for i, c in enumerate(runs) if not store.has(c.run_id())]
    done = len(runs) - len(todo)
    if not todo:
        console.print(f"nothing to do: all {len(runs)} {title.split()[-1]} are already in {store.runs_dir}")
    elif done or store.interrupted():
        redo = len(store.interrupted())
        console.print(f"resuming: skipping {done} finished run(s), {len(todo)} to go"
                      + (f" ({redo} interrupted, redone from the start)" if redo else ""))

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=False) as progress:
        overall = progress.add_task(title, total=len(runs), completed=done)
        for order, config in todo:
            label = f"{config.strategy} (seed {config.seed}" + (
                f", lr {config.resolved().learning_rate:g})" if config.holdout else ")")
            task = progress.add_task(f"  {label}", total=None)

            def on_progress(step: int, total: int, task=task) -> None:
                progress.update(task, completed=step, total=total)

            try:
                if world > 1:  # the processes of `accelerate launch` / torchrun train this run together
                    info = outcome(config.to_dict(), on_progress)
                else:
                    info = run_worker(config, store.directory / "logs" / f"{config.run_id()}.log", on_progress)
            except KeyboardInterrupt:  # Ctrl-C: the worker is gone; say which run stopped, keep runs/ valid
                if rank == 0:
                    path = store.mark_interrupted(config.run_id(), record_for(
                        config, {"status": "interrupted", "error": "stopped by the user (Ctrl-C)"}, order))
                    progress.console.print(f"[red]interrupted[/] {label}: marked in {path}; "
                                           "rerun the same command to resume")
                raise
            if rank == 0:
                store.write(config.run_id(), record_for(config, info, order))
            progress.remove_task(task)
            status = info["status"]
            colour = {"ok": "green", "unsupported": "yellow"}.get(status, "red")
            accuracy = f" accuracy {info['eval_accuracy']:.4f}" if status == "ok" else f": {info.get('error')}"
            progress.console.print(f"[{colour}]{status}[/] {label}{accuracy}")
            progress.advance(overall)
