"""Both examples run end to end, for every strategy, on a tiny model and the demo data."""

import json
import re
import runpy
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification

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


HEAD = {"classifier.weight", "classifier.bias"}
TOP = "bert.encoder.layer.1.output.dense.weight"  # the tiny model's top block (2 layers)


def named_weights(model) -> dict[str, torch.Tensor]:
    """Parameters under the names of the plain model: peft's wrappers, base layers and head copies taken off."""
    out = {}
    for name, tensor in model.named_parameters():
        if "original_module" in name:  # peft's untouched copy of the head; the trained one is modules_to_save
            continue
        for wrapper in ("base_model.model.", "base_model.", "modules_to_save.default.", "base_layer."):
            name = name.replace(wrapper, "")
        out[name] = tensor.detach()
    return out


def base_model(path):
    return AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)


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
    printed = capsys.readouterr().out
    saved = out if example == "custom_loop.py" else tmp_path / "artifact"
    assert json.loads((saved / "peftkit.json").read_text())["strategy"]["name"] == strategy
    expected = peftkit.count_parameters(peftkit.get_strategy(strategy).apply(base_model(model)))
    if example == "trainer_script.py":  # the count it prints is that of the strategy asked for, and it evaluated
        assert f"trainable params: {expected.trainable:,} || all params: {expected.total:,}" in printed
        assert re.search(r"'eval_accuracy': (0|1)\.\d+", printed), printed
    else:
        assert re.fullmatch(r"epoch 0: loss \d+\.\d{4}, validation accuracy (0|1)\.\d{4}\n", printed), printed

    base, loaded = base_model(model).eval(), peftkit.load(saved).eval()
    before, after = named_weights(base), named_weights(loaded)
    assert set(before) <= set(after)  # the whole base model is there
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert HEAD <= changed  # every strategy trains the new head
    body = changed - HEAD
    if strategy == "full":
        assert TOP in body and len(body) > len(before) // 2
    elif strategy == "gradual":
        pass  # checked last, below
    elif strategy == "bitfit":
        assert body and all(name.endswith(".bias") for name in body)  # biases only
    else:
        assert body == set()  # the frozen body is saved and loaded bit for bit
    added = set(after) - set(before)  # what the strategy inserted, as many as a fresh apply inserts
    saved_added = sum(after[name].numel() for name in added)
    if strategy == "adalora":  # it saves the ranks that survived its budget schedule, fewer than it started with
        assert 0 < saved_added < expected.breakdown["added"]["total"]
    elif strategy != "ptuning":  # peft saves P-tuning's prompt as its encoder's output, not the encoder
        assert saved_added == expected.breakdown["added"]["total"]
    assert [name for name in added if "lora_B" in name and not after[name].any()] == []  # LoRA's B starts at 0
    ids = torch.tensor([[2, 10, 3]])
    with torch.no_grad():
        trained, untrained = loaded(input_ids=ids).logits, base(input_ids=ids).logits
    assert torch.isfinite(trained).all() and not torch.allclose(trained, untrained)
    if strategy == "gradual":  # the top block is unfrozen first, within the first epoch
        assert TOP in body
