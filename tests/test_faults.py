"""A sweep killed with SIGKILL in the middle of a run completes on rerun, losing and duplicating nothing."""

import json
import os
import signal
import subprocess
import sys
import time

from plugin_dist import write_plugin

from peftkit import demo


def test_kill_9_mid_sweep_then_resume(tmp_path):
    model = demo.write_tiny_model(tmp_path / "model")
    data = demo.write_dataset(tmp_path / "data", n_train=96, n_eval=32)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "peftkit", "compare", "--model", str(model), "--dataset", str(data),
               "-s", "head", "-s", "bitfit", "-s", "lora", "--epochs", "2", "--max-length", "16",
               "--batch-size", "4", "--output", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and len(list((out / "runs").glob("*.json"))) < 1:
        time.sleep(0.2)
    time.sleep(1.0)  # now inside the second run
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = {p.name: p.read_bytes() for p in (out / "runs").glob("*.json")}
    assert 1 <= len(before) < 3

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"skipping {len(before)} finished run" in rerun.stdout
    records = {p.name: p.read_bytes() for p in (out / "runs").glob("*.json")}
    strategies = sorted(json.loads(b)["run_info"]["config"]["strategy"] for b in records.values())
    assert strategies == ["bitfit", "head", "lora"]
    assert all(records[name] == data for name, data in before.items())
    assert not list(out.rglob("*.tmp"))


def test_ctrl_c_marks_the_run_interrupted_and_the_rerun_completes(tmp_path):
    model = demo.write_tiny_model(tmp_path / "model")
    data = demo.write_dataset(tmp_path / "data", n_train=96, n_eval=32)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "peftkit", "compare", "--model", str(model), "--dataset", str(data),
               "-s", "head", "-s", "lora", "--epochs", "3", "--max-length", "16", "--batch-size", "4",
               "--output", str(out)]
    # Ctrl-C's default action, even when the tests run from a background job that ignores SIGINT (the
    # child would inherit that, and Python raises no KeyboardInterrupt for an ignored signal)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    while time.time() < deadline and len(list((out / "runs").glob("*.json"))) < 1:
        time.sleep(0.2)
    time.sleep(1.0)  # inside the second run
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    assert "interrupted" in output and "Traceback" not in output, output
    (marker,) = (out / "interrupted").glob("*.json")
    record = json.loads(marker.read_text())
    assert record["train_info"]["status"] == "interrupted"
    assert record["run_info"]["config"]["strategy"] == "lora"
    assert [json.loads(p.read_text())["train_info"]["status"] for p in (out / "runs").glob("*.json")] == ["ok"]

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "1 interrupted" in rerun.stdout
    assert len(list((out / "runs").glob("*.json"))) == 2
    assert not list((out / "interrupted").glob("*.json"))


PLUGIN = '''
import os
import signal

import torch

from peftkit.strategies.base import Strategy


class Boom(Strategy):
    name = "boom"
    description = "raises while applying"

    def apply(self, model):
        raise RuntimeError("boom: this strategy always fails")


class Hog(Strategy):
    name = "hog"
    description = "asks for far more memory than any machine has"

    def apply(self, model):
        torch.empty(2**50, dtype=torch.uint8)  # 1 PiB
        return self._mark(model)


class Killed(Strategy):
    name = "killed"
    description = "dies like a process the kernel's out-of-memory killer took"

    def apply(self, model):
        os.kill(os.getpid(), signal.SIGKILL)
'''


def test_failing_and_out_of_memory_strategies_become_failed_rows(tmp_path):
    """Strategies registered only here (an entry-point plugin, so that worker processes see them too)."""
    plugins = write_plugin(tmp_path / "plugins", "faulty_strategies", PLUGIN,
                           {"boom": "Boom", "hog": "Hog", "killed": "Killed"})
    model = demo.write_tiny_model(tmp_path / "model")
    data = demo.write_dataset(tmp_path / "data", n_train=48, n_eval=16)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "peftkit", "compare", "--model", str(model), "--dataset", str(data), "-s", "head",
         "-s", "boom", "-s", "hog", "-s", "killed", "-s", "bitfit", "--epochs", "1", "--max-length", "16",
         "--output", str(out)], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rows = {r["run_info"]["config"]["strategy"]: r["train_info"]
            for r in (json.loads(p.read_text()) for p in (out / "runs").glob("*.json"))}
    assert rows["head"]["status"] == rows["bitfit"]["status"] == "ok"
    assert rows["boom"]["status"] == "failed" and "boom: this strategy always fails" in rows["boom"]["error"]
    assert rows["hog"]["status"] == "failed" and "out of memory" in rows["hog"]["error"]
    assert rows["killed"]["status"] == "failed" and "killed: out of memory?" in rows["killed"]["error"]
    report = (out / "report.md").read_text()
    assert "boom: this strategy always fails" in report
