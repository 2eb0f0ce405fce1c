"""Frozen encoder, trained head (linear probing).

The body is frozen *and kept in eval mode* (no dropout), so its features are deterministic. That
is what lets ``peftkit train``/``compare`` compute them once and train the head on the cache
(``feature_cache.py``), which makes many epochs cheap.

Pooling. The head reads one vector per example. ``pooling=head`` keeps what the model's head reads
(BERT: the pooler over [CLS]; RoBERTa/ELECTRA/DeBERTa/DistilBERT: [CLS]; decoders: the last token).
``pooling=mean`` gives it the mean of the last hidden states over the real (unpadded) tokens instead,
which is what sentence-embedding models were trained to produce. ``auto`` picks mean for models that
ship a sentence-transformers pooling config asking for mean tokens (all-MiniLM-L6-v2 does), and the
model's own head otherwise; ``benchmarks/head_cache.py`` shows the difference.
"""

from __future__ import annotations

import json
import types
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from .. import architectures as arch
from ..options import StrategyOptions, option
from ..registry import register_strategy
from .base import Strategy, TrainDefaults, freeze, unfreeze_head


@dataclass
class HeadOptions(StrategyOptions):
    pooling: Literal["auto", "head", "mean"] = option(
        "auto", "what the head reads: the model's own choice (head), the mean over tokens (mean), or auto")
    cache: bool = option(True, "train on cached body features (peftkit train/compare); same result, much faster")


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


def keep_in_eval_mode(module: nn.Module) -> None:
    """``model.train()`` (which the Trainer calls every step) leaves this module in eval mode."""
    module.train = types.MethodType(lambda self, mode=True: nn.Module.train(self, False), module)
    nn.Module.train(module, False)


@register_strategy
class HeadStrategy(Strategy):
    name = "head"
    description = "Freeze the pretrained body (in eval mode); train only the task head, on cached features."
    merge_blocker = None
    defaults = TrainDefaults(
        5e-3, epochs=20.0, warmup=0.0, weight_decay=0.0,
        source="linear probing: one layer on frozen features tolerates a large rate (Kumar et al., 2022 use "
               "1e-3..1e-2); 20 epochs because cached features make an epoch nearly free")
    Options = HeadOptions
    core = True

    def apply(self, model):
        freeze(model)
        unfreeze_head(model)
        keep_in_eval_mode(arch.body(model))
        # record the choice, so that a saved artifact reloads with the same pooling anywhere
        self.options = replace(self.options, pooling=resolve_pooling(self.options.pooling, model))
        if self.options.pooling == "mean":
            install_mean_pooling(model)
        return self._mark(model)

    def cannot_merge(self) -> str | None:
        if self.options.pooling == "mean":
            return "mean pooling is a change of the forward pass, which a plain transformers model cannot express"
        return None

    def uses_feature_cache(self) -> bool:
        return self.options.cache
