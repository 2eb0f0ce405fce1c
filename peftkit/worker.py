"""Runs one (strategy, seed) in its own process: ``python -m peftkit.worker CONFIG.json RESULT.json [PARENT_PID]``.

A fresh process per run gives each run its own peak memory, and a crash or an out-of-memory kill
loses only that run. Progress goes to stdout as ``@@peftkit-progress STEP TOTAL`` lines; the outcome
(train_info with a status) goes to RESULT.json.

The worker stops as soon as the ``compare`` that started it is gone (killed with -9, say), removing its
temporary directory (``/tmp/peftkit-worker-<parent pid>-*``, where its run's files go too); a directory
left by a process that died anyway is removed by the next ``compare``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback
import warnings
from pathlib import Path
from typing import Callable, Iterator

PROGRESS = "@@peftkit-progress"
META = "meta_info"  # the key of RESULT.json's machine and versions, beside the train_info
DIR_PREFIX = "peftkit-worker-"
PARENT_POLL_SECONDS = 0.5


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_dirs(root: str | Path | None = None) -> list[Path]:
    """Remove this user's worker directories whose owning process (the pid in the name) has died."""
    removed = []
    for path in sorted(Path(root or tempfile.gettempdir()).glob(DIR_PREFIX + "*")):
        owner = re.match(rf"{DIR_PREFIX}(\d+)-", path.name)
        with contextlib.suppress(OSError):
            if owner and path.is_dir() and path.stat().st_uid == os.getuid() and not alive(int(owner.group(1))):
                shutil.rmtree(path)
                removed.append(path)
    return removed


@contextlib.contextmanager
def worker_dir() -> Iterator[Path]:
    """A temporary directory for one worker, named after this (the parent) process; stale ones go first."""
    remove_stale_dirs()
    path = Path(tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{os.getpid()}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def command(config_path: Path, result_path: Path) -> list[str]:
    """How a parent starts a worker: the worker watches this process and stops when it dies."""
    return [sys.executable, "-m", "peftkit.worker", str(config_path), str(result_path), str(os.getpid())]


def watch_parent(parent: int, on_death: Callable[[], None], interval: float = PARENT_POLL_SECONDS) -> threading.Thread:
    """Call ``on_death`` (in a thread) once ``parent`` has died: this process was re-parented, or ``parent``
    no longer exists."""
    original = os.getppid()

    def poll() -> None:
        while os.getppid() == original and alive(parent):
            time.sleep(interval)
        on_death()

    thread = threading.Thread(target=poll, name="peftkit-parent-watch", daemon=True)
    thread.start()
    return thread


def _orphaned(parent: int, work_dir: Path | None) -> Callable[[], None]:
    def stop() -> None:
        print(f"peftkit worker: the process that started it ({parent}) is gone; stopping", file=sys.stderr, flush=True)
        if work_dir is not None:
            shutil.rmtree(work_dir, ignore_errors=True)
        os._exit(1)  # at once, whatever the training threads are doing

    return stop


def print_progress(step: int, total: int) -> None:
    print(f"{PROGRESS} {step} {total}", flush=True)


def outcome(config_dict: dict, progress=print_progress) -> dict:
    """Run one config and return its train_info; every failure becomes a status and a reason."""
    import torch

    from .errors import PeftkitError, UnsupportedError
    from .training import Diverged, RunConfig, run_in_temp_dir

    try:
        return run_in_temp_dir(RunConfig.from_dict(config_dict), progress)
    except UnsupportedError as e:
        return {"status": "unsupported", "error": e.reason}
    except Diverged as e:
        return {"status": "diverged", "error": str(e)}
    except (torch.OutOfMemoryError, MemoryError) as e:
        return {"status": "failed", "error": f"out of memory: {str(e).splitlines()[0] if str(e) else type(e).__name__}"}
    except PeftkitError as e:
        return {"status": "failed", "error": str(e)}
    except Exception as e:  # any other crash of this run becomes a failed row; the sweep goes on
        traceback.print_exc()
        if "can't allocate memory" in str(e) or "out of memory" in str(e).lower():  # CPU allocator failures
            return {"status": "failed", "error": f"out of memory: {str(e).strip().splitlines()[0][:200]}"}
        return {"status": "failed", "error": f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"}


def main(argv: list[str]) -> int:
    config_path, result_path = Path(argv[0]), Path(argv[1])
    work_dir = config_path.parent if config_path.parent.name.startswith(DIR_PREFIX) else None
    if work_dir is not None:  # the run's own temporary files go there too, and go with it
        tempfile.tempdir = str(work_dir)
    if len(argv) > 2:
        watch_parent(int(argv[2]), _orphaned(int(argv[2]), work_dir))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore")
    result = outcome(json.loads(config_path.read_text()))
    from .meta import meta_info
    from .output import atomic_write_text

    result[META] = meta_info()  # where it trained (its node, its threads), for the record: not a measurement

    atomic_write_text(result_path, json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
