"""P-tuning (Liu et al., 2021, "GPT Understands, Too") through peft: virtual tokens before the input, as in
prompt tuning, but produced by a small trained prompt encoder (an MLP or an LSTM) rather than trained directly."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import peft

from .. import architectures as arch
from ..options import StrategyOptions, option
from ..registry import register_strategy
from . import _peft
from .prompt import PromptStrategy


@dataclass
class PtuningOptions(StrategyOptions):
    num_virtual_tokens: int = option(20, "number of virtual tokens prepended to the input (peft's guide)")
    encoder: Literal["mlp", "lstm"] = option("mlp", "the prompt encoder: a two-layer MLP, or an LSTM then an MLP")
    encoder_hidden_size: int = option(128, "hidden size of the prompt encoder (peft's P-tuning guide)")
    encoder_dropout: float = option(0.0, "dropout in the prompt encoder")

    def validate(self):
        self.positive("num_virtual_tokens", "encoder_hidden_size")
        self.in_range("encoder_dropout", 0.0, 1.0)


@register_strategy
class PtuningStrategy(PromptStrategy):
    name = "ptuning"
    family = "additive"
    description = "P-tuning: virtual tokens before the input, made by a trained prompt encoder (via peft)."
    merge_blocker = "the virtual tokens are extra input embeddings, not a change of weights"
    defaults = replace(PromptStrategy.defaults, learning_rate=1e-3, source="peft's P-tuning guide for sequence "
                       "classification: 1e-3, 20 virtual tokens, encoder hidden size 128; not searched here yet",
                       steps_source="prompt tuning's: " + PromptStrategy.defaults.steps_source)
    Options = PtuningOptions
    core = False

    def apply(self, model):
        o, base = self.options, arch.unwrap(model)
        encoder = {"mlp": peft.PromptEncoderReparameterizationType.MLP,
                   "lstm": peft.PromptEncoderReparameterizationType.LSTM}[o.encoder]
        return _peft.wrap(self, model, peft.PromptEncoderConfig(
            num_virtual_tokens=o.num_virtual_tokens, token_dim=arch.input_embedding_dim(base),
            num_layers=len(arch.blocks(base)), num_attention_heads=arch.num_attention_heads(base.config),
            encoder_reparameterization_type=encoder, encoder_hidden_size=o.encoder_hidden_size,
            encoder_dropout=o.encoder_dropout))
