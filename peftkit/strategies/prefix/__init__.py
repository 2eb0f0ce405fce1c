"""Prefix tuning (Li & Liang, 2021): trainable key/value prefixes in every attention layer.

Through peft where its ``past_key_values`` route works for the architecture; otherwise peftkit
injects the same prefixes through transformers' attention interface (``native.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import peft

from ... import architectures as arch
from ...options import StrategyOptions, option
from ...registry import register_strategy
from .. import _peft
from ..base import Strategy, TrainDefaults, freeze, unfreeze_head
from . import native


@dataclass
class PrefixOptions(StrategyOptions):
    num_virtual_tokens: int = option(20, "number of prefix key/value vectors per attention layer")
    projection: bool = option(False, "reparameterise the prefix through a two-layer MLP (Li & Liang)")
    projection_hidden_size: int | None = option(None, "hidden size of that MLP; default: the model's hidden size")

    def validate(self):
        self.positive("num_virtual_tokens", "projection_hidden_size")


@register_strategy
class PrefixStrategy(Strategy):
    name = "prefix"
    description = "Prefix tuning: trainable key/value prefixes in every attention layer; the model stays frozen."
    merge_blocker = "prefixes are extra attention keys and values, not a change of weights"
    defaults = TrainDefaults(4e-2, source="P-tuning v2 (Liu et al., 2022): 5e-3..1e-2 for prefixes on encoders; 4e-2 for a 3-epoch budget, chosen over 1e-2, 2e-2 and 8e-2 by `--search lr` on held-out SST-2 training data (benchmarks/results/search-sst2, search-sst2-round2, search-sst2-round3)")
    Options = PrefixOptions
    core = True
    peft_backed = True

    def apply(self, model):
        spec = arch.arch_for(model)
        o = self.options
        if spec.prefix is None:
            raise arch.unsupported(self.name, model, spec.prefix_reason)
        base = arch.unwrap(model)
        if spec.prefix == "native":
            freeze(base)
            native.attach(base, num_virtual_tokens=o.num_virtual_tokens, projection=o.projection,
                          projection_hidden_size=o.projection_hidden_size)
            unfreeze_head(base)
            return self._mark(base)
        hidden = arch.input_embedding_dim(base)
        config = peft.PrefixTuningConfig(
            num_virtual_tokens=o.num_virtual_tokens,
            prefix_projection=o.projection,
            encoder_hidden_size=o.projection_hidden_size or hidden,
            num_layers=len(arch.blocks(base)),
            num_attention_heads=arch.num_attention_heads(base.config),
            token_dim=base.config.hidden_size,
        )
        return _peft.wrap(self, model, config)
