"""A worker stops once the compare that started it is gone (kill -9), and removes its temporary directory;
a directory whose owner died anyway is removed by the next start."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from peftkit import demo, worker
from peftkit.training import RunConfig

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")

# a compare-like parent: worker_dir() and command() as compare.run_worker uses them, without importing the
# peftkit package (that takes seconds); the worker's output goes to a file, so that no broken pipe stops it
PARENT = textwrap.dedent("""
    import importlib.util, subprocess, sys, time
    spec = importlib.util.spec_from_file_location("peftkit_worker", sys.argv[1])
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    with worker.worker_dir() as tmp:
        (tmp / "config.json").write_text(sys.argv[2])
        with open(sys.argv[3], "w") as out:
            process = subprocess.Popen(worker.command(tmp / "config.json", tmp / "result.json"), stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            print(process.pid, tmp, flush=True)
            process.wait()
""")


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for a reaper that may never come in a container)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_a_worker_stops_when_its_parent_is_killed(tmp_path):
    model = demo.write_tiny_model(tmp_path / "model")
    data = demo.write_dataset(tmp_path / "data", n_train=32, n_eval=8)
    config = RunConfig(model=str(model), dataset=str(data), strategy="lora:r=4", epochs=100_000, max_length=16,
                       batch_size=4)  # would train for hours
    (tmp_path / "tmp").mkdir()
    output = tmp_path / "worker.out"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, worker.__file__, json.dumps(config.to_dict()), str(output)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(tmp_path / "tmp")})
    try:
        pid, work_dir = parent.stdout.readline().split()
        pid, work_dir = int(pid), Path(work_dir)
        assert work_dir.parent == tmp_path / "tmp" and work_dir.name.startswith(f"peftkit-worker-{parent.pid}-")
        assert wait_for(lambda: worker.PROGRESS in output.read_text(), 120), output.read_text()[-2000:]
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert wait_for(lambda: not running(pid), 5), "the orphaned worker is still training"
        assert not work_dir.exists(), "the orphaned worker left its temporary directory"
        assert "is gone; stopping" in output.read_text()
    finally:
        for process in (parent.pid, locals().get("pid")):
            if isinstance(process, int) and running(process):
                os.kill(process, signal.SIGKILL)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_next_start_removes_directories_whose_owner_died(tmp_path):
    dead, alive = tmp_path / f"peftkit-worker-{_dead_pid()}-abc", tmp_path / f"peftkit-worker-{os.getpid()}-def"
    unnamed, other = tmp_path / "peftkit-worker-xyz", tmp_path / "mine"
    for directory in (dead, alive, unnamed, other):
        (directory / "run").mkdir(parents=True)
    assert worker.remove_stale_dirs(tmp_path) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (alive, unnamed, other))


def test_worker_dir_is_named_after_its_owner_and_cleans_up(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    stale = tmp_path / f"peftkit-worker-{_dead_pid()}-old"
    stale.mkdir()
    with worker.worker_dir() as path:
        assert path.name.startswith(f"peftkit-worker-{os.getpid()}-") and not stale.exists()
    assert not path.exists()


def test_the_watch_fires_at_once_for_a_parent_already_gone():
    fired = []
    worker.watch_parent(_dead_pid(), lambda: fired.append(True), interval=0.05).join(5)
    assert fired == [True]
