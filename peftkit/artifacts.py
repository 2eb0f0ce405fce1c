"""Saving, loading and merging what a strategy trained.

A saved directory holds only what the strategy trained, plus ``peftkit.json`` (strategy, options,
base model, label names) and the tokenizer:

- peft-backed strategies (lora, ia3, prompt, prefix where peft does it): a standard peft adapter
  directory, which ``peft.PeftModel.from_pretrained`` loads without peftkit;
- everything else (head, gradual, adapter, bitfit, peftkit's own prefixes, full): the trained tensors in
  ``peftkit_weights.safetensors``, named as in the model after ``strategy.apply``.

Weights are read with safetensors only: nothing a user hands over is unpickled.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from . import architectures as arch
from .errors import PeftkitError

METADATA_FILE = "peftkit.json"
WEIGHTS_FILE = "peftkit_weights.safetensors"


def trained_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Tensors a strategy trains: all parameters with requires_grad (gradual: all unfrozen so far)."""
    return {n: p.detach().contiguous().cpu() for n, p in model.named_parameters() if p.requires_grad}


def save(model: nn.Module, directory: str | Path, *, base_model: str | None = None,
         label_names: list[str] | None = None, tokenizer: Any = None) -> Path:
    """Write only what the strategy trained, plus ``peftkit.json`` (and the tokenizer if given)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    strategy = getattr(model, "peftkit_strategy", None)
    if strategy is None:
        raise PeftkitError("this model was not made by a peftkit strategy: apply one first (strategy.apply(model))")
    base = arch.unwrap(model)
    if hasattr(model, "peft_config"):  # a standard peft adapter directory
        model.save_pretrained(directory)
    else:
        save_file(trained_state(model), str(directory / WEIGHTS_FILE))
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)
    if label_names is None and getattr(base.config, "id2label", None):
        label_names = [base.config.id2label[i] for i in range(len(base.config.id2label))]
    meta = {
        "strategy": {"name": strategy.name, "options": strategy.saved_options(model)},
        "base_model": base_model or getattr(base.config, "name_or_path", None),
        "label_names": label_names,
        "model_type": base.config.model_type,
        "pad_token_id": base.config.pad_token_id,
        "format": "peft" if hasattr(model, "peft_config") else "safetensors",
    }
    (directory / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return directory


def read_metadata(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / METADATA_FILE
    if not path.is_file():
        raise PeftkitError(f"{directory} has no {METADATA_FILE}: pass a directory written by peftkit.save or peftkit train")
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise PeftkitError(f"{path} is not valid JSON") from None


# weight formats that torch.load unpickles: an artifact offering any of them is refused, never read
PICKLED_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def refuse_pickled_weights(directory: Path) -> None:
    """Raise if ``directory`` holds weights in a pickle-based format (peft would fall back to reading them)."""
    for path in sorted(Path(directory).rglob("*")):
        if path.is_file() and path.suffix.lower() in PICKLED_SUFFIXES:
            raise PeftkitError(
                f"{path} holds weights in a pickle-based format, which peftkit never loads (unpickling can run "
                "code); re-save the model with save_pretrained(), which writes safetensors "
                "(safe_serialization=True on transformers 4), and remove that file")


def load(directory: str | Path, base_model: str | nn.Module | None = None) -> nn.Module:
    """Rebuild the trained model: the base model (from ``peftkit.json`` unless given) plus what was saved.
    Only safetensors are read, for the artifact and for the base model: nothing is unpickled."""
    from transformers import AutoModelForSequenceClassification

    from .modeling import resolve_model
    from .registry import get_strategy

    directory = Path(directory)
    meta = read_metadata(directory)
    refuse_pickled_weights(directory)
    labels = meta.get("label_names") or ["0", "1"]
    if base_model is None:
        base_model = meta.get("base_model")
        if not base_model:
            raise PeftkitError(f"{directory}/{METADATA_FILE} names no base model: pass base_model")
    if isinstance(base_model, str):
        try:
            model = AutoModelForSequenceClassification.from_pretrained(
                resolve_model(base_model), num_labels=len(labels), id2label=dict(enumerate(labels)),
                label2id={n: i for i, n in enumerate(labels)}, use_safetensors=True)
        except OSError as e:
            raise PeftkitError(f"cannot load base model '{base_model}': {str(e).strip().splitlines()[0]}") from None
    else:
        model = base_model
    if meta.get("pad_token_id") is not None:
        model.config.pad_token_id = meta["pad_token_id"]
    strategy = get_strategy(meta["strategy"]["name"], **meta["strategy"]["options"])
    if meta.get("format") == "peft":
        from peft import PeftModel

        from .strategies._peft import quiet

        strategy.check_peft_artifact(model)
        with quiet():
            model = PeftModel.from_pretrained(model, directory)
        model.peftkit_strategy = strategy
    else:
        model = strategy.apply(model)
        state = load_file(str(directory / WEIGHTS_FILE))
        params = dict(model.named_parameters())
        unknown = sorted(set(state) - set(params))
        if unknown:
            raise PeftkitError(f"{directory} holds tensors this model does not have (e.g. {unknown[0]}); "
                               "is the base model the one it was trained from?")
        with torch.no_grad():
            for name, tensor in state.items():
                params[name].copy_(tensor.to(params[name].dtype))
    return model.eval()


def merge(directory: str | Path, output: str | Path, base_model: str | None = None) -> Path:
    """Fold what was trained into a plain transformers model directory (AutoModelForSequenceClassification)."""
    from .registry import get_strategy

    meta = read_metadata(directory)
    name = meta["strategy"]["name"]
    blocker = get_strategy(name, **meta["strategy"]["options"]).cannot_merge()
    if blocker:
        raise PeftkitError(f"strategy '{name}' cannot be merged: {blocker}; use peftkit.load instead")
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise PeftkitError(f"output directory {output} is not empty; pass a new one (nothing is overwritten)")
    model = load(directory, base_model)
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    # written beside the output and renamed when complete: a failure leaves no half-written model
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.partial-"))
    try:
        model.save_pretrained(partial)
        for f in Path(directory).iterdir():
            if f.name.startswith(("tokenizer", "special_tokens", "vocab")):
                (partial / f.name).write_bytes(f.read_bytes())
        if output.exists():
            output.rmdir()
        partial.rename(output)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return output


def directory_bytes(directory: str | Path) -> int:
    return sum(f.stat().st_size for f in Path(directory).rglob("*") if f.is_file())
