"""The results store: one JSON record per (strategy, seed) run, written atomically, never overwritten.

Layout of an output directory::

    comparison.json       the shared configuration of the comparison (refuses to mix configurations)
    runs/<run_id>.json    one record per finished run: run_info, train_info, meta_info
    interrupted/<run_id>.json   a run stopped by Ctrl-C (status interrupted); the rerun redoes it
    .locks/<run_id>.lock  held (flock) by the process training that run, with its pid, host and start
    report.md, results.csv, results.json, plot.png   rebuilt from runs/ at any time

A record is written to a temporary file in the same directory and renamed into place, so a kill at
any moment leaves either the whole record or none; leftover ``.tmp`` files are ignored and cleaned.

Two ``peftkit compare`` processes may share an output directory: each claims a run before training it
(``claim``), so that no run trains twice at once, and the other says who holds it. The kernel releases a
claim when its process dies, so a killed sweep leaves nothing to clean.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from .errors import PeftkitError
from .output import atomic_write_text, current_umask  # noqa: F401  (the writer lives in output; importable here too)

RUNS = "runs"
LOCKS = ".locks"  # one lock file per run being trained
STALE_SECONDS = 600  # a temporary file this old is a dead writer's (a record takes milliseconds to write)
INTERRUPTED = "interrupted"  # runs stopped by Ctrl-C: notes, not results
COMPARISON = "comparison.json"


class ResultStore:
    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.runs_dir = self.directory / RUNS

    def prepare(self, comparison: dict[str, Any], *, allow_mixed: bool = False) -> None:
        """Create the store, or check that an existing one holds the same comparison."""
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            probe = self.directory / f".peftkit-write-test-{os.getpid()}"  # another compare may probe too
            probe.write_text("")
            probe.unlink()
        except OSError as e:
            raise PeftkitError(f"cannot write to output directory {self.directory}: {e.strerror}; "
                               "pass a writable --output") from None
        for leftover in self.runs_dir.glob(".*.tmp"):  # a writer killed mid-write; not one writing now
            with contextlib.suppress(OSError):
                if time.time() - leftover.stat().st_mtime > STALE_SECONDS:
                    leftover.unlink()
        path = self.directory / COMPARISON
        if path.exists():
            try:
                existing = json.loads(path.read_text())
            except ValueError:
                raise PeftkitError(f"{path} is not valid JSON; remove it or use another --output") from None
            if existing != comparison and not allow_mixed:
                changed = sorted(k for k in set(existing) | set(comparison) if existing.get(k) != comparison.get(k))
                raise PeftkitError(
                    f"{self.directory} holds results of a different configuration (differs in: "
                    f"{', '.join(changed)}); use another --output, or --allow-mixed to add to it")
            if existing == comparison:
                return
        atomic_write_text(path, json.dumps(comparison, indent=2, sort_keys=True) + "\n")

    def path(self, run_id: str) -> Path:
        return self.runs_dir / f"{run_id}.json"

    def has(self, run_id: str) -> bool:
        return self.path(run_id).exists()

    def write(self, run_id: str, record: dict[str, Any]) -> Path:
        path = self.path(run_id)
        if path.exists():  # never overwrite a finished run
            raise PeftkitError(f"result {path} exists already")
        atomic_write_text(path, json.dumps(record, indent=2, default=str) + "\n")
        (self.directory / INTERRUPTED / f"{run_id}.json").unlink(missing_ok=True)
        return path

    def claim(self, run_id: str) -> "Claim | str":
        """Hold ``run_id`` for this process while it trains it; if another process holds it, say who."""
        path = self.directory / LOCKS / f"{run_id}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            return f"held by {holder or 'another process'}"
        handle.seek(0)
        handle.truncate()
        handle.write(f"peftkit compare, pid {os.getpid()} on {socket.gethostname()}, since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        return Claim(handle)

    def mark_interrupted(self, run_id: str, record: dict[str, Any]) -> Path:
        """Note a run stopped by the user. Not a result: a rerun redoes the run and removes the note."""
        path = self.directory / INTERRUPTED / f"{run_id}.json"
        atomic_write_text(path, json.dumps(record, indent=2, default=str) + "\n")
        return path

    def interrupted(self) -> list[str]:
        return sorted(p.stem for p in (self.directory / INTERRUPTED).glob("*.json") if not self.has(p.stem))

    def records(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted(self.runs_dir.glob("*.json")):
            try:
                out.append(json.loads(path.read_text()))
            except ValueError:
                raise PeftkitError(f"{path} is not a valid result record; move it away and rerun") from None
        return out


class Claim:
    """One process's hold on one run (an flock on its lock file), released once its record is written."""

    def __init__(self, handle):
        self.handle = handle

    def release(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


def flat_row(record: dict[str, Any]) -> dict[str, Any]:
    """A record as one flat row for reports."""
    run, train = record.get("run_info", {}), record.get("train_info", {})
    config = run.get("config", {})
    return {"strategy": config.get("strategy"), "seed": config.get("seed"), **train,
            "learning_rate": config.get("learning_rate"), "epochs": config.get("epochs"),
            "order": run.get("order", 0)}
