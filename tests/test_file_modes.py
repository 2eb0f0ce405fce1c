"""What peftkit saves follows the user's umask, as any file they write would (safetensors writes 0600 and
mkdtemp makes 0700, which would keep other users of a shared machine from loading an artifact)."""

import os
import stat

import pytest
from tiny_models import tiny_model
from transformers import AutoModelForSequenceClassification

import peftkit


@pytest.fixture
def umask():
    previous = os.umask(0o022)

    def set_umask(value: int) -> None:
        os.umask(value)

    yield set_umask
    os.umask(previous)


def modes(directory):
    return {p.relative_to(directory).as_posix(): stat.S_IMODE(p.stat().st_mode)
            for p in [directory, *directory.rglob("*")]}


def saved(strategy, tmp_path):
    tiny_model("bert").save_pretrained(tmp_path / "base")
    model = peftkit.get_strategy(strategy).apply(AutoModelForSequenceClassification.from_pretrained(tmp_path / "base"))
    return peftkit.save(model, tmp_path / strategy, base_model=str(tmp_path / "base"))


@pytest.mark.parametrize("strategy", ["lora", "head"])  # a peft adapter directory, peftkit's own weights file
@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_saved_and_merged_files_follow_the_umask(strategy, mask, file_mode, dir_mode, tmp_path, umask):
    umask(mask)
    artifact = saved(strategy, tmp_path)
    found = modes(artifact)
    assert any(name.endswith(".safetensors") for name in found)
    assert {name: m for name, m in found.items() if name != "."} == {name: file_mode for name in found if name != "."}
    merged = peftkit.merge(artifact, tmp_path / "merged")
    found = modes(merged)
    assert found.pop(".") == dir_mode and "model.safetensors" in found
    assert set(found.values()) == {file_mode}, found


def test_the_demo_model_follows_the_umask(tmp_path, umask):
    from peftkit import demo

    found = modes(demo.write_tiny_model(tmp_path / "demo-model"))
    assert found.pop(".") == 0o755 and "model.safetensors" in found and set(found.values()) == {0o644}
