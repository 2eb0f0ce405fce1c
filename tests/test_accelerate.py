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



def _single_and_ddp(tmp_path, spec: str):
    """Train ``spec`` in one process (batch 8) and in two gloo processes (batch 4 each): their train_info."""
    model = demo.write_tiny_model(tmp_path / "model")
    data = demo.write_dataset(tmp_path / "data", n_train=64, n_eval=32)
    common = ["-s", spec, "--model", str(model), "--dataset", str(data), "--epochs", "2", "--max-length", "16",
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
    assert ddp.stdout.count(f"trained {spec}") == 1  # only the main process reports and writes
    return [json.loads((tmp_path / name / "metrics.json").read_text())["train_info"] for name in ("single", "ddp")]


def test_two_cpu_processes_match_one(tmp_path):
    a, b = _single_and_ddp(tmp_path, "lora:r=4")
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


def test_gradual_unfreezing_under_two_processes(tmp_path):
    """DDP must know every parameter from the start; layers unfrozen later then train in step on both."""
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification

    a, b = _single_and_ddp(tmp_path, "gradual")
    assert a["train_steps"] == b["train_steps"]
    assert a["trainable_params"] == b["trainable_params"] == b["total_params"]  # everything unfrozen by the end
    assert abs(a["eval_loss"] - b["eval_loss"]) <= 0.05
    base = dict(AutoModelForSequenceClassification.from_pretrained(tmp_path / "model").named_parameters())
    trained = load_file(str(tmp_path / "ddp" / "peftkit_weights.safetensors"))
    bottom = "bert.encoder.layer.0.attention.self.query.weight"
    assert not base[bottom].detach().equal(trained[bottom])  # the bottom block trained after it was unfrozen
