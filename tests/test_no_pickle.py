"""Nothing a user hands peftkit is unpickled: an artifact that offers pickled weights is refused unread."""

import pickle
import subprocess
import sys

import pytest
import torch
from tiny_models import tiny_model
from transformers import AutoModelForSequenceClassification

import peftkit
from peftkit.errors import PeftkitError


class Hostile:
    """Unpickling this creates a marker file: proof that the pickle ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def lora_artifact(tmp_path):
    tiny_model("bert").save_pretrained(tmp_path / "base")
    model = peftkit.get_strategy("lora").apply(AutoModelForSequenceClassification.from_pretrained(tmp_path / "base"))
    peftkit.save(model, tmp_path / "saved", base_model=str(tmp_path / "base"))
    return tmp_path / "saved"


def _swap_for_pickle(artifact, payload, name="adapter_model.bin"):
    (artifact / "adapter_model.safetensors").unlink()
    with open(artifact / name, "wb") as f:
        pickle.dump(payload, f)


@pytest.mark.parametrize("name", ["adapter_model.bin", "adapter_model.pt", "weights.ckpt"])
def test_a_benign_pickle_is_refused_naming_the_file(lora_artifact, name):
    _swap_for_pickle(lora_artifact, {"x": torch.zeros(2)}, name)
    with pytest.raises(PeftkitError, match=rf"{name} holds weights in a pickle-based format.*save_pretrained\(\), which writes safetensors"):
        peftkit.load(lora_artifact)


def test_a_hostile_pickle_is_never_opened(lora_artifact, tmp_path):
    marker = tmp_path / "pwned"
    _swap_for_pickle(lora_artifact, Hostile(marker))
    for call in (lambda: peftkit.load(lora_artifact), lambda: peftkit.merge(lora_artifact, tmp_path / "merged")):
        with pytest.raises(PeftkitError, match="pickle-based"):
            call()
    assert not marker.exists() and not (tmp_path / "merged").exists()


@pytest.mark.parametrize("command", [["predict", "{a}", "good film"], ["merge", "{a}", "{out}"]])
def test_every_command_refuses_in_one_line_with_exit_2(lora_artifact, tmp_path, command):
    marker = tmp_path / "pwned"
    _swap_for_pickle(lora_artifact, Hostile(marker))
    args = [c.format(a=lora_artifact, out=tmp_path / "merged") for c in command]
    p = subprocess.run([sys.executable, "-m", "peftkit", *args], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and "adapter_model.bin" in p.stderr, p.stderr
    assert not marker.exists()


def test_a_base_model_with_only_pickled_weights_is_not_loaded(tmp_path):
    tiny_model("bert").save_pretrained(tmp_path / "base")
    (tmp_path / "base" / "model.safetensors").unlink()
    torch.save(tiny_model("bert").state_dict(), tmp_path / "base" / "pytorch_model.bin")
    model = peftkit.get_strategy("head").apply(tiny_model("bert"))
    peftkit.save(model, tmp_path / "saved", base_model=str(tmp_path / "base"))
    with pytest.raises(PeftkitError, match="cannot load base model"):
        peftkit.load(tmp_path / "saved")


def test_training_refuses_a_model_whose_weights_are_only_pickled(tmp_path):
    from peftkit import demo

    model_dir = demo.write_tiny_model(tmp_path / "model")
    weights = AutoModelForSequenceClassification.from_pretrained(model_dir).state_dict()
    (model_dir / "model.safetensors").unlink()
    marker = tmp_path / "pwned"
    torch.save({**weights, "payload": Hostile(marker)}, model_dir / "pytorch_model.bin")
    data = demo.write_dataset(tmp_path / "data", n_train=16, n_eval=8)
    p = subprocess.run([sys.executable, "-m", "peftkit", "train", "-s", "head", "--model", str(model_dir),
                        "--dataset", str(data), "--output", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "only pickle-based weights (pytorch_model.bin)" in p.stderr and not marker.exists() and not (tmp_path / "out").exists()
