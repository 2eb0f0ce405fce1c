"""Both examples run end to end, for every strategy, on a tiny model and the demo data."""

import runpy
import sys
from pathlib import Path

import pytest
import torch

import peftkit
from peftkit import demo

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("examples")
    return demo.write_tiny_model(root / "model"), demo.write_dataset(root / "data", n_train=48, n_eval=16)


def run_example(name: str, monkeypatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", [name, *args])
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")


@pytest.mark.parametrize("example", ["trainer_script.py", "custom_loop.py"])
@pytest.mark.parametrize("strategy", peftkit.list_strategies())
def test_example_runs(example, strategy, assets, tmp_path, monkeypatch, capsys):
    if strategy == "qlora":
        pytest.skip("qlora needs a model loaded in 4-bit on a CUDA GPU")
    model, data = assets
    out = tmp_path / "artifact"
    extra = ["--output", str(out)] if example == "custom_loop.py" else ["--output", str(tmp_path)]
    run_example(example, monkeypatch, "--model", str(model), "--data", str(data), "--strategy", strategy,
                "--epochs", "1", *extra)
    saved = out if example == "custom_loop.py" else tmp_path / "artifact"
    assert (saved / "peftkit.json").exists()
    loaded = peftkit.load(saved)
    assert torch.isfinite(loaded(input_ids=torch.tensor([[2, 10, 3]])).logits).all()
    assert "accuracy" in capsys.readouterr().out
