"""Frozen encoder, trained head (linear probing).

The body is frozen *and kept in eval mode* (no dropout), so its features are deterministic. That
is what lets ``peftkit train``/``compare`` compute them once and train the head on the cache
(``feature_cache.py``), which makes many epochs cheap.

Pooling (``pooling.py``): the head reads the model's own choice (``head``) or the mean over tokens
(``mean``); ``auto`` follows a sentence-transformers pooling config. ``benchmarks/head_cache.py``
shows the difference.
"""

from __future__ import annotations

import types
from dataclasses import dataclass

from torch import nn

from .. import architectures as arch
from ..options import StrategyOptions, option
from ..pooling import Pooling, apply_pooling, pooled_options, pooling_merge_blocker, pooling_option
from ..registry import register_strategy
from .base import Strategy, TrainDefaults, freeze, unfreeze_head


@dataclass
class HeadOptions(StrategyOptions):
    pooling: Pooling = pooling_option("auto")
    cache: bool = option(True, "train on cached body features (peftkit train/compare); same result, much faster")


def keep_in_eval_mode(module: nn.Module) -> None:
    """``model.train()`` (which the Trainer calls every step) leaves this module in eval mode."""
    module.train = types.MethodType(lambda self, mode=True: nn.Module.train(self, False), module)
    nn.Module.train(module, False)


@register_strategy
class HeadStrategy(Strategy):
    name = "head"
    family = "selective"
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
        apply_pooling(self, model)
        return self._mark(model)

    def cannot_merge(self) -> str | None:
        return pooling_merge_blocker(self.options)

    def saved_options(self, model) -> dict:
        return pooled_options(self, model)

    def uses_feature_cache(self) -> bool:
        return self.options.cache
