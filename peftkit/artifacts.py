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

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from . import architectures as arch
from .errors import PeftkitError, first_line, read_user_text
from .output import atomic_path, atomic_write_text, file_mode
from .tasks import get_task, task_of

METADATA_FILE = "peftkit.json"
WEIGHTS_FILE = "peftkit_weights.safetensors"


def trained_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Tensors a strategy trains: all parameters with requires_grad (gradual: all unfrozen so far)."""
    return {n: p.detach().contiguous().cpu() for n, p in model.named_parameters() if p.requires_grad}


def save_trained_tensors(model: nn.Module, directory: Path) -> None:
    """The default of ``Strategy.save_weights``: the trained tensors, named as in the applied model."""
    with atomic_path(directory / WEIGHTS_FILE) as tmp:
        save_file(trained_state(model), str(tmp))


def save(model: nn.Module, directory: str | Path, *, base_model: str | None = None,
         label_names: list[str] | None = None, tokenizer: Any = None) -> Path:
    """Write only what the strategy trained, plus ``peftkit.json`` (and the tokenizer if given)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    strategy = getattr(model, "peftkit_strategy", None)
    if strategy is None:
        raise PeftkitError("this model was not made by a peftkit strategy: apply one first (strategy.apply(model))")
    base = arch.unwrap(model)
    fmt = strategy.save_weights(model, directory)
    for written in directory.glob("*.safetensors"):  # peft's safetensors are 0600: follow the umask instead
        os.chmod(written, file_mode())
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
        "format": fmt,
        "task": task_of(model).name,
    }
    atomic_write_text(directory / METADATA_FILE, json.dumps(meta, indent=2) + "\n")
    return directory


REMAKE = "copy the artifact again, or re-create it with peftkit train or peftkit.save"
MODEL_FIX = "copy the model again, or re-save it with save_pretrained()"
# peftkit.json: key -> (accepted types, what it must be); "strategy" is required, the rest may be absent
METADATA_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "strategy": ((dict,), "an object with 'name' and 'options'"),
    "base_model": ((str, type(None)), "a model name or path"),
    "label_names": ((list, type(None)), "a list of label names"),
    "model_type": ((str, type(None)), "a model type"),
    "pad_token_id": ((int, type(None)), "a token id"),
    "format": ((str,), "'peft' or 'safetensors'"),
    "task": ((str,), "a task name"),
}
FORMATS = ("peft", "safetensors")


def read_metadata(directory: str | Path) -> dict[str, Any]:
    """``peftkit.json`` of an artifact, its shape checked: anything else is one PeftkitError naming the file."""
    path = Path(directory) / METADATA_FILE
    if not path.is_file():
        raise PeftkitError(f"{directory} has no {METADATA_FILE}: pass a directory written by peftkit.save or peftkit train")
    meta = read_json(path)
    _check_metadata(path, meta)
    return meta


def read_json(path: Path) -> Any:
    try:
        return json.loads(read_user_text(path))
    except ValueError as e:
        raise PeftkitError(f"{path} is not valid JSON ({e}): {REMAKE}") from None


def json_kind(value: Any) -> str:
    kinds = {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}
    return kinds.get(type(value), "null")


def _wrong(path: Path, problem: str) -> PeftkitError:
    return PeftkitError(f"{path} is not a peftkit artifact description: {problem}; {REMAKE}")


def _check_metadata(path: Path, meta: Any) -> None:
    if not isinstance(meta, dict):
        raise _wrong(path, f"it holds a JSON {json_kind(meta)}, not an object")
    if "strategy" not in meta:
        raise _wrong(path, "it names no strategy ('strategy' is missing)")
    for key, (types, what) in METADATA_FIELDS.items():
        value = meta.get(key)
        if key in meta and (isinstance(value, bool) or not isinstance(value, types)):
            raise _wrong(path, f"'{key}' must be {what}, got {value!r}")
    strategy, labels = meta["strategy"], meta.get("label_names") or []
    if not isinstance(strategy.get("name"), str):
        raise _wrong(path, f"'strategy' needs a 'name' (a string), got {strategy!r}")
    if not isinstance(strategy.get("options", {}), dict):
        raise _wrong(path, f"the strategy's 'options' must be an object of option names and values, "
                           f"got {strategy['options']!r}")
    if not all(isinstance(n, str) for n in labels):
        raise _wrong(path, f"'label_names' must be {METADATA_FIELDS['label_names'][1]}, got {labels!r}")
    if meta.get("format", "safetensors") not in FORMATS:
        raise _wrong(path, f"'format' must be {METADATA_FIELDS['format'][1]}, got {meta['format']!r}")
    if meta.get("task") is not None:
        try:
            get_task(meta["task"])
        except PeftkitError as e:
            raise _wrong(path, str(e)) from None
    saved_strategy(meta, path)  # the name is registered and the options are valid


def saved_strategy(meta: dict[str, Any], path: Path):
    """The strategy ``peftkit.json`` names, built with its options; a bad name or option names the file."""
    from .registry import get_strategy, list_strategies

    name, options = meta["strategy"]["name"], meta["strategy"].get("options", {})
    if name not in list_strategies():
        raise PeftkitError(f"{path} names strategy '{name}', which this peftkit does not have (it has "
                           f"{', '.join(list_strategies())}): register it first (peftkit.register_strategy), or "
                           "load the artifact with the peftkit that wrote it")
    try:
        return get_strategy(name, **options)
    except PeftkitError as e:
        raise PeftkitError(f"{path}: {e}; {REMAKE}") from None


def check_safetensors(path: Path, fix: str = REMAKE) -> None:
    """Refuse a truncated or corrupt safetensors file in one line (its header must cover the whole file)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt"):
            pass
    except SafetensorError as e:
        raise PeftkitError(f"{path} is not a complete safetensors file ({str(e).strip()}): it is truncated or "
                           f"corrupt; {fix}") from None


def _weight_files(meta: dict[str, Any]) -> tuple[str, ...]:
    if meta.get("format") == "peft":
        from peft.utils import CONFIG_NAME, SAFETENSORS_WEIGHTS_NAME

        return CONFIG_NAME, SAFETENSORS_WEIGHTS_NAME
    return (WEIGHTS_FILE,)


def check_weights(directory: Path, meta: dict[str, Any]) -> None:
    """The files that hold what was trained are there and whole, before any model is built."""
    for name in _weight_files(meta):
        path = directory / name
        if not path.is_file():
            raise PeftkitError(f"{directory} has no {name} (part of what was trained): the artifact is incomplete; "
                               f"{REMAKE}")
        if name.endswith(".safetensors"):
            check_safetensors(path)
        else:
            _check_adapter_config(path)


def _check_adapter_config(path: Path) -> None:
    from peft import PeftType

    config = read_json(path)
    if not isinstance(config, dict):
        raise PeftkitError(f"{path} is not a peft adapter config (it holds a JSON {json_kind(config)}, not an "
                           f"object): {REMAKE}")
    if config.get("peft_type") not in {t.value for t in PeftType}:
        raise PeftkitError(f"{path} is not a peft adapter config ('peft_type' is {config.get('peft_type')!r}, which "
                           f"the installed peft does not know): {REMAKE}")


@contextlib.contextmanager
def reading(what: str, fix: str = REMAKE):
    """What a library raises on a file it cannot use (a corrupt JSON, weights of other shapes) as one line."""
    from safetensors import SafetensorError

    try:
        yield
    except (SafetensorError, ValueError, RuntimeError) as e:
        if isinstance(e, PeftkitError):
            raise
        raise PeftkitError(f"cannot load {what}: {_detail(e)}; {fix}") from e


def _detail(error: BaseException) -> str:
    """The first line of a message, with the next where the first only introduces it (torch's
    "Error(s) in loading state_dict for X:" then "size mismatch for ...")."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " ".join(lines[:2])[:300] if len(lines) > 1 and lines[0].endswith(":") else first_line(error)


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
    Only safetensors are read, for the artifact and for the base model: nothing is unpickled. A damaged
    artifact (a truncated file, a ``peftkit.json`` of another shape) is one PeftkitError naming the file."""
    directory = Path(directory)
    meta = read_metadata(directory)
    refuse_pickled_weights(directory)
    check_weights(directory, meta)
    model = _base_model(directory, meta, base_model)
    if meta.get("pad_token_id") is not None:
        model.config.pad_token_id = meta["pad_token_id"]
    strategy = saved_strategy(meta, directory / METADATA_FILE)
    with reading(f"what {directory} trained", "check that the base model is the one it was trained from, or "
                 + REMAKE):
        model = strategy.load_weights(model, directory, meta.get("format", "safetensors"))
    return model.eval()


def _base_model(directory: Path, meta: dict[str, Any], base_model: str | nn.Module | None) -> nn.Module:
    from .modeling import resolve_model

    if base_model is None:
        base_model = meta.get("base_model")
        if not base_model:
            raise PeftkitError(f"{directory}/{METADATA_FILE} names no base model: pass base_model")
    if not isinstance(base_model, str):
        return base_model
    from .modeling import check_local_weights, load_for_task

    labels = meta.get("label_names") or ["0", "1"]
    try:
        check_local_weights(base_model)
    except PeftkitError as e:
        raise PeftkitError(f"cannot load base model '{base_model}': {e}") from None
    with reading(f"base model '{base_model}'", MODEL_FIX):
        try:
            return load_for_task(get_task(meta.get("task")), resolve_model(base_model), labels)
        except OSError as e:
            raise PeftkitError(f"cannot load base model '{base_model}': {first_line(e)}") from None


def load_trained_tensors(model: nn.Module, directory: Path) -> nn.Module:
    """The default of ``Strategy.load_weights``: copy the saved tensors into the applied ``model``."""
    state = load_file(str(directory / WEIGHTS_FILE))
    params = dict(model.named_parameters())
    unknown = sorted(set(state) - set(params))
    if unknown:
        raise PeftkitError(f"{directory} holds tensors this model does not have (e.g. {unknown[0]}); "
                           "is the base model the one it was trained from?")
    misfit = next((n for n, t in state.items() if t.shape != params[n].shape), None)
    if misfit:
        raise PeftkitError(f"{directory} holds {misfit} of shape {tuple(state[misfit].shape)}, where this model has "
                           f"{tuple(params[misfit].shape)}; is the base model the one it was trained from?")
    with torch.no_grad():
        for name, tensor in state.items():
            params[name].copy_(tensor.to(params[name].dtype))
    return model


def merge(directory: str | Path, output: str | Path, base_model: str | None = None) -> Path:
    """Fold what was trained into a plain transformers model directory (its task's ``AutoModelFor...``)."""
    from .output import written_beside

    meta = read_metadata(directory)
    name = meta["strategy"]["name"]
    blocker = saved_strategy(meta, Path(directory) / METADATA_FILE).cannot_merge()
    if blocker:
        raise PeftkitError(f"strategy '{name}' cannot be merged: {blocker}; use peftkit.load instead")
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise PeftkitError(f"output directory {output} is not empty; pass a new one (nothing is overwritten)")
    model = saved_strategy(meta, Path(directory) / METADATA_FILE).merged(load(directory, base_model))
    with written_beside(output) as partial:  # renamed into place when complete: never a half-written model
        model.save_pretrained(partial)
        for f in Path(directory).iterdir():
            if f.name.startswith(("tokenizer", "special_tokens", "vocab")):
                (partial / f.name).write_bytes(f.read_bytes())
    return output


def directory_bytes(directory: str | Path) -> int:
    return sum(f.stat().st_size for f in Path(directory).rglob("*") if f.is_file())
