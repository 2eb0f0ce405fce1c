"""A sweep killed with SIGKILL in the middle of a run completes on rerun, losing and duplicating nothing."""

import json
import os
import signal
import subprocess
import sys
import time

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
