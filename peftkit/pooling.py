"""What the task head reads: the model's own choice, or the mean of the last hidden states.

``pooling=head`` keeps what the model's head reads (BERT: the pooler over [CLS]; RoBERTa/ELECTRA/
DeBERTa/DistilBERT: [CLS]; decoders: the last token). ``pooling=mean`` gives it the mean of the last
hidden states over the real (unpadded) tokens instead, which is what sentence-embedding models were
trained to produce. ``auto`` picks mean for models that ship a sentence-transformers pooling config
asking for mean tokens (all-MiniLM-L6-v2 does, and its BERT pooler is untrained: zero bias), and the
model's own head otherwise.

Strategies that train no peft adapter (``head``, ``full``, ``gradual``) offer the option: mean pooling
is a change of the forward pass, which a peft adapter directory or a plain transformers model cannot
express, so a strategy using it cannot be merged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from . import architectures as arch
from .errors import OptionError
from .options import option

Pooling = Literal["auto", "head", "mean"]
CANNOT_MERGE = "mean pooling is a change of the forward pass, which a plain transformers model cannot express"


def pooling_option(default: str) -> Pooling:
    return option(default, "what the head reads: the model's own choice (head), the mean over tokens (mean), or auto "
                           "(mean for sentence-transformers models that pool by mean)")


def sentence_transformers_pooling(model: nn.Module) -> str | None:
    """'mean', 'cls'... from a local sentence-transformers model directory, else None."""
    path = getattr(arch.unwrap(model).config, "_name_or_path", "") or ""
    config = Path(path) / "1_Pooling" / "config.json"
    if not path or not config.is_file():
        return None
    modes = json.loads(config.read_text())
    for mode in ("mean_tokens", "cls_token", "max_tokens", "mean_sqrt_len_tokens"):
        if modes.get(f"pooling_mode_{mode}"):
            return mode.split("_")[0]
    return None


def resolve_pooling(pooling: str, model: nn.Module) -> str:
    from .tasks import task_of

    if task_of(model).per_token:  # every token is classified: there is nothing to pool
        if pooling == "mean":
            raise OptionError("pooling=mean gives a sentence head the mean of the tokens; a token-classification "
                              "head reads every token: leave pooling out (auto) or pass pooling=head")
        return "head"
    if pooling != "auto":
        return pooling
    return "mean" if sentence_transformers_pooling(model) == "mean" else "head"


def install_mean_pooling(model: nn.Module) -> None:
    """Hand the head the masked mean of the last hidden states in place of the token it reads.

    The mean is written into every position, so it works whichever position a head reads; a body
    pooler (BERT, ALBERT) is bypassed: its output becomes the mean as well."""
    body = arch.body(model)

    def hook(module, args, kwargs, output):
        hidden = output.last_hidden_state
        mask = kwargs.get("attention_mask")
        if mask is None:
            mask = torch.ones(hidden.shape[:2], device=hidden.device)
        mask = mask[:, -hidden.shape[1]:].unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        output.last_hidden_state = mean.unsqueeze(1).expand_as(hidden).contiguous()
        if getattr(output, "pooler_output", None) is not None and output.pooler_output.shape[-1] == mean.shape[-1]:
            output.pooler_output = mean
        return output

    body.register_forward_hook(hook, with_kwargs=True)


def apply_pooling(strategy, model: nn.Module) -> None:
    """Resolve ``strategy.options.pooling`` for this model, record it on the model (so that a saved artifact
    reloads with the same pooling anywhere: ``pooled_options``) and install mean pooling if chosen. The
    strategy's own options are left as given: the same strategy may be applied to other models."""
    pooling = resolve_pooling(strategy.options.pooling, model)
    arch.unwrap(model).peftkit_pooling = pooling
    if pooling == "mean":
        install_mean_pooling(model)


def pooled_options(strategy, model: nn.Module) -> dict:
    """``strategy``'s options as applied to ``model``: its pooling resolved."""
    options = strategy.options.to_dict()
    resolved = getattr(arch.unwrap(model), "peftkit_pooling", None)
    return {**options, "pooling": resolved} if resolved else options


def pooling_merge_blocker(options) -> str | None:
    return CANNOT_MERGE if options.pooling == "mean" else None
