"""Saving what a strategy trained: a peft adapter directory, or the trained tensors as safetensors."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import save_file
from torch import nn

from . import architectures as arch

METADATA_FILE = "peftkit.json"
WEIGHTS_FILE = "peftkit_weights.safetensors"


def trained_state(model: nn.Module) -> dict:
    """Tensors a strategy trains: all parameters with requires_grad (gradual: all unfrozen so far)."""
    return {n: p.detach().contiguous().cpu() for n, p in model.named_parameters() if p.requires_grad}


def save(model: nn.Module, directory: str | Path, *, base_model: str | None = None,
         label_names: list[str] | None = None) -> Path:
    """Write only what the strategy trained, plus ``peftkit.json``. Returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    strategy = getattr(model, "peftkit_strategy", None)
    if hasattr(model, "peft_config"):  # a standard peft adapter directory
        model.save_pretrained(directory)
    else:
        save_file(trained_state(model), str(directory / WEIGHTS_FILE))
    meta = {
        "strategy": strategy.to_dict() if strategy else None,
        "base_model": base_model or getattr(arch.unwrap(model).config, "name_or_path", None),
        "label_names": label_names,
        "model_type": arch.unwrap(model).config.model_type,
    }
    (directory / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return directory


def directory_bytes(directory: str | Path) -> int:
    return sum(f.stat().st_size for f in Path(directory).rglob("*") if f.is_file())
