"""Multi-process data parallel training with two CPU processes (gloo): only the main process writes,
and the result agrees with a single-process run of the same global batch size.

The processes are started with `accelerate launch --multi_gpu --num_processes 2`, which on a machine
without CUDA runs DDP over gloo on the CPU (`accelerate launch --cpu --num_processes 2` starts a single
process in accelerate 1.x: its multi-CPU launcher needs mpirun).

Tolerance: the two runs see the same examples per optimizer step but in a different order (the
distributed sampler shards each batch), so the stated agreement is |eval loss difference| <= 0.05 and
|accuracy difference| <= 0.1 on the tiny model.
"""

import json
import subprocess
import sys

import pytest

from peftkit import demo



def test_two_cpu_processes_match_one(tmp_path):
    model = demo.write_tiny_model(tmp_path / "model")
    data = demo.write_dataset(tmp_path / "data", n_train=64, n_eval=32)
    common = ["-s", "lora:r=4", "--model", str(model), "--dataset", str(data), "--epochs", "2", "--max-length", "16",
              "--learning-rate", "5e-3"]
    single = subprocess.run([sys.executable, "-m", "peftkit", "train", *common, "--batch-size", "8",
                             "--output", str(tmp_path / "single")], capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-2000:]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "-m", "peftkit", "train", *common,
              "--batch-size", "4", "--output", str(tmp_path / "ddp")]
    ddp = subprocess.run(launch, capture_output=True, text=True, timeout=600)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert ddp.stdout.count("trained lora") == 1  # only the main process reports and writes
    a = json.loads((tmp_path / "single" / "metrics.json").read_text())["train_info"]
    b = json.loads((tmp_path / "ddp" / "metrics.json").read_text())["train_info"]
    assert a["train_steps"] == b["train_steps"]
    assert abs(a["eval_loss"] - b["eval_loss"]) <= 0.05
    assert abs(a["eval_accuracy"] - b["eval_accuracy"]) <= 0.1


def test_compare_under_two_processes(tmp_path):
    model = demo.write_tiny_model(tmp_path / "model")
    data = demo.write_dataset(tmp_path / "data", n_train=64, n_eval=32)
    out = tmp_path / "out"
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "-m", "peftkit", "compare", "--model", str(model), "--dataset", str(data), "-s", "head", "-s", "lora",
              "--epochs", "1", "--max-length", "16", "--batch-size", "4", "--output", str(out)]
    result = subprocess.run(launch, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in (out / "runs").glob("*.json")]
    assert sorted(r["run_info"]["config"]["strategy"] for r in records) == ["head", "lora"]
    assert all(r["train_info"]["status"] == "ok" for r in records)
    assert all(r["train_info"]["train_steps"] == 8 for r in records)  # 64 examples / (2 processes x 4)
    assert (out / "report.md").exists()
