"""Running what a comparison's store lacks: one worker process per run, up to ``--jobs`` of them at once.

Only this (the parent) process writes the store. Each run is claimed first (``ResultStore.claim``: a lock per
run), so that two ``peftkit compare`` processes on one output directory never train the same run twice at
once: a run another process holds is left to it, and said so. Ctrl-C stops every run in flight and marks each
one interrupted; the rerun redoes exactly those. Where the runs go (threads or a GPU each, or Ray tasks) is
``parallel.py``'s and ``ray_executor.py``'s; what a run's worker does is ``worker.py``'s.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .compare_records import record_for
from .parallel import SERIAL, Execution, Slot
from .settings import RunConfig
from .store import Claim, ResultStore
from .tasks import get_task
from .worker import META, PROGRESS, outcome, worker_dir
from .worker import command as worker_command


def label(config: RunConfig) -> str:
    resolved = config.resolved()
    return f"{config.strategy} (seed {config.seed}" + (
        f", lr {resolved.learning_rate:g}, epochs {resolved.epochs:g})" if config.holdout else ")")


@dataclass
class Sweep:
    """The runs of one ``execute`` call and where they report: the store, the progress display, the console."""

    store: ResultStore
    progress: Any  # rich.progress.Progress
    overall: Any  # its task for the whole sweep
    rank: int = 0

    def finish(self, order: int, config: RunConfig, info: dict[str, Any]) -> None:
        """Write the run's record (in the first process) and print its line."""
        meta = info.pop(META, None)  # the worker's machine and versions (on Ray: its node's)
        if self.rank == 0:
            self.store.write(config.run_id(), record_for(config, info, order, meta))
        status = info["status"]
        colour = {"ok": "green", "unsupported": "yellow"}.get(status, "red")
        metric = get_task(config.task).primary
        score = f" {metric.label} {info[metric.key]:.4f}" if status == "ok" else f": {info.get('error')}"
        self.progress.console.print(f"[{colour}]{status}[/] {label(config)}{score}")
        self.progress.advance(self.overall)

    def interrupted(self, order: int, config: RunConfig) -> None:
        """Ctrl-C stopped this run: note it (not a result), so that a rerun redoes it."""
        if self.rank == 0:
            path = self.store.mark_interrupted(config.run_id(), record_for(
                config, {"status": "interrupted", "error": "stopped by the user (Ctrl-C)"}, order))
            self.progress.console.print(f"[red]interrupted[/] {label(config)}: marked in {path}; "
                                        "rerun the same command to resume")

    def held_elsewhere(self, config: RunConfig, holder: str) -> None:
        self.progress.console.print(f"[yellow]skipped[/] {label(config)}: {holder}; it goes on there, and a rerun "
                                    "here once it is done reports it")

    def tracker(self, config: RunConfig, where: str = "") -> tuple[Any, Callable[[int, int], None]]:
        """A progress row for a run in flight, and the callback that moves it."""
        task = self.progress.add_task(f"  {label(config)}" + (f" [{where}]" if where else ""), total=None)

        def on_progress(step: int, total: int) -> None:
            self.progress.update(task, completed=step, total=total)

        return task, on_progress


def execute(store: ResultStore, runs: list[RunConfig], console, world: int, rank: int, title: str,
            execution: Execution = SERIAL) -> None:
    """Run every config of ``runs`` that the store lacks, writing records (see the module's docstring)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    todo = [(i, c) for i, c in enumerate(runs) if not store.has(c.run_id())]
    done = len(runs) - len(todo)
    if not todo:
        console.print(f"nothing to do: all {len(runs)} {title.split()[-1]} are already in {store.runs_dir}")
    elif done or store.interrupted():
        redo = len(store.interrupted())
        console.print(f"resuming: skipping {done} finished run(s), {len(todo)} to go"
                      + (f" ({redo} interrupted, redone from the start)" if redo else ""))
    if not todo:
        return
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=False) as progress:
        sweep = Sweep(store, progress, progress.add_task(title, total=len(runs), completed=done), rank)
        if world > 1:  # the processes of `accelerate launch` / torchrun train each run together, in turn
            _in_this_launch(sweep, todo)
        elif execution.executor == "ray":
            from .ray_executor import run_on_ray

            run_on_ray(sweep, todo, execution)
        else:
            _in_worker_processes(sweep, todo, execution.slots)


def _in_this_launch(sweep: Sweep, todo: list[tuple[int, RunConfig]]) -> None:
    for order, config in todo:
        task, on_progress = sweep.tracker(config)
        try:
            info = outcome(config.to_dict(), on_progress)
        except KeyboardInterrupt:
            sweep.interrupted(order, config)
            raise
        sweep.progress.remove_task(task)
        sweep.finish(order, config, info)


def _in_worker_processes(sweep: Sweep, todo: list[tuple[int, RunConfig]], slots: list[Slot]) -> None:
    """Each run in a worker process of its own, as many at once as there are slots (one each)."""
    free: queue.Queue[Slot] = queue.Queue()
    for slot in slots:
        free.put(slot)
    flight = InFlight()

    def one(config: RunConfig) -> tuple[Claim | None, dict | None, str | None]:
        """(the claim, train_info, None), or (None, None, who holds the run) when another process trains it."""
        claim = sweep.store.claim(config.run_id())
        if not isinstance(claim, Claim):
            return None, None, claim
        if sweep.store.has(config.run_id()) or flight.stopping:  # finished elsewhere meanwhile, or Ctrl-C
            claim.release()
            return None, None, None
        slot = free.get()
        task, on_progress = sweep.tracker(config, slot.label if len(slots) > 1 else "")
        try:
            log = sweep.store.directory / "logs" / f"{config.run_id()}.log"
            info = run_worker(config, log, on_progress, env=slot.env,
                              started=lambda process: flight.started(config.run_id(), process))
        finally:
            flight.ended(config.run_id())
            sweep.progress.remove_task(task)
            free.put(slot)
        return claim, info, None

    pool = ThreadPoolExecutor(max_workers=len(slots), thread_name_prefix="peftkit-run")
    futures = {pool.submit(one, config): (order, config) for order, config in todo}
    handled: set = set()
    try:
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in finished:
                handled.add(future)
                _settle(sweep, *futures[future], *future.result())
    except BaseException as stop:  # Ctrl-C (or a failure here): stop every worker, keep what had ended
        flight.stop()
        pool.shutdown(wait=True, cancel_futures=True)
        for future, (order, config) in futures.items():
            if future in handled or not future.done() or future.cancelled() or future.exception() is not None:
                continue
            claim, info, _ = future.result()
            if claim is not None and config.run_id() in flight.killed:
                if isinstance(stop, KeyboardInterrupt):
                    sweep.interrupted(order, config)
                claim.release()
            else:  # it ended before the stop: its record is kept
                _settle(sweep, order, config, claim, info, None)
        raise
    pool.shutdown(wait=True)


def _settle(sweep: Sweep, order: int, config: RunConfig, claim: Claim | None, info: dict | None,
            holder: str | None) -> None:
    """What one run's thread came back with: a record to write (then its claim released), or who holds it."""
    if holder:
        sweep.held_elsewhere(config, holder)
    if claim is not None:
        try:
            sweep.finish(order, config, info)
        finally:
            claim.release()


class InFlight:
    """The worker processes running now, so that Ctrl-C can stop them all: one that starts after the stop is
    stopped at once (and counts as stopped)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.processes: dict[str, subprocess.Popen] = {}
        self.killed: set[str] = set()
        self.stopping = False

    def started(self, run_id: str, process: subprocess.Popen) -> None:
        with self.lock:
            self.processes[run_id] = process
            if self.stopping:
                self.killed.add(run_id)
                _kill(process)

    def ended(self, run_id: str) -> None:
        with self.lock:
            self.processes.pop(run_id, None)

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
            for run_id, process in self.processes.items():
                self.killed.add(run_id)
                _kill(process)


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_worker(config: RunConfig, log_path: Path, on_progress, env: dict[str, str] | None = None,
               started: Callable[[subprocess.Popen], None] | None = None) -> dict[str, Any]:
    """Run one config in a child process (``env`` added to this one's environment); return its train_info (a
    failed one if the child died). ``started(process)`` is called once it runs."""
    with worker_dir() as tmp:  # removed by the worker if this process dies, by the next compare otherwise
        config_path, result_path = Path(tmp) / "config.json", Path(tmp) / "result.json"
        config_path.write_text(json.dumps(config.to_dict()))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "w") as log:
            process = subprocess.Popen(worker_command(config_path, result_path), stdout=subprocess.PIPE, stderr=log,
                                       text=True, start_new_session=True, env={**os.environ, **(env or {})})
            if started is not None:
                started(process)
            try:
                for line in process.stdout:
                    if line.startswith(PROGRESS):
                        _, step, total = line.split()
                        on_progress(int(step), int(total))
                    else:
                        log.write(line)
                process.wait()
            except BaseException:
                _kill(process)
                process.wait()
                raise
        if result_path.exists():
            return json.loads(result_path.read_text())
    return died(process.returncode, log_path)


def died(returncode: int, log_path: Path) -> dict[str, Any]:
    """The train_info of a worker that exited without a result: its exit and the last line it logged."""
    tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] if log_path.exists() else []
    reason = f"worker exited with status {returncode}"
    if returncode in (-signal.SIGKILL, 137):
        reason += " (killed: out of memory?)"
    return {"status": "failed", "error": reason + (f": {tail[0]}" if tail else "")}
