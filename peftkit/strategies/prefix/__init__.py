"""Prefix tuning (Li & Liang, 2021): trainable key/value prefixes in every attention layer.

Two routes, chosen at ``apply`` time from what the installed model can do (``route=auto``):

- ``peft``: peft's prefix tuning, which hands the prefixes to the model as ``past_key_values``. It
  works where the model's forward (or its body's) takes an argument of that name: BERT, RoBERTa,
  ELECTRA, GPT-2, Llama and Qwen2 up to transformers 5.23. The artifact is a standard peft adapter.
- ``native``: peftkit injects the same prefixes through transformers' attention interface
  (``native.py``): ALBERT, DistilBERT and DeBERTa-v2, whose forwards never took ``past_key_values``,
  and every family from transformers 5.24, which renamed it ``cache``.

Both have the same parameters (and so the same counts). A saved artifact records the route that
made it (``route`` in its options), and loads through that route.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Literal

import peft

from ... import architectures as arch
from ...errors import UpstreamError
from ...options import StrategyOptions, option
from ...registry import register_strategy
from .. import _peft
from ..base import TrainDefaults, VirtualTokens, freeze, steps_rule, unfreeze_head
from . import native


@dataclass
class PrefixOptions(StrategyOptions):
    num_virtual_tokens: int = option(20, "number of prefix key/value vectors per attention layer")
    projection: bool = option(False, "reparameterise the prefix through a two-layer MLP (Li & Liang)")
    projection_hidden_size: int | None = option(None, "hidden size of that MLP; default: the model's hidden size")
    route: Literal["auto", "peft", "native"] = option(
        "auto", "how prefixes reach attention: peft's past_key_values, peftkit's attention interface "
                "(native), or auto: peft where the installed model takes past_key_values, else native")

    def validate(self):
        self.positive("num_virtual_tokens", "projection_hidden_size")


@register_strategy
class PrefixStrategy(_peft.PeftStrategy):
    name = "prefix"
    family = "additive"
    description = "Prefix tuning: trainable key/value prefixes in every attention layer; the model stays frozen."
    merge_blocker = "prefixes are extra attention keys and values, not a change of weights"
    defaults = TrainDefaults(4e-2, source="P-tuning v2 (Liu et al., 2022): 5e-3..1e-2 for prefixes on encoders; 4e-2 for a 3-epoch budget, chosen over 1e-2, 2e-2 and 8e-2 by `--search lr` on held-out SST-2 training data (benchmarks/results/search-sst2-round3; rounds 1 and 2: benchmarks/results/search-sst2 and search-sst2-round2 at commit 97d66d6)",
        **steps_rule(
            "held-out SST-2 subsamples at 3, 10 and 20 epochs (benchmarks/results/grid-sst2-500 and -1000): "
            "0.734, 0.759 and 0.792 with 500 examples (96, 320, 640 steps), 0.770, 0.792 and 0.809 with 1,000"
            " (189, 630, 1,260 steps)"))
    Options = PrefixOptions
    core = True

    def virtual_tokens(self) -> VirtualTokens:
        return VirtualTokens(prefix=self.options.num_virtual_tokens)

    def apply(self, model):
        o = self.options
        base = arch.unwrap(model)
        refusal = peft_refusal(base)
        if o.route == "peft" and refusal:
            raise UpstreamError(self.name, arch.model_label(model), refusal, ("transformers", "peft"))
        if o.route == "native" or refusal:
            freeze(base)
            native.attach(base, num_virtual_tokens=o.num_virtual_tokens, projection=o.projection,
                          projection_hidden_size=o.projection_hidden_size)
            unfreeze_head(base)
            return self._mark(base)
        config = peft.PrefixTuningConfig(
            num_virtual_tokens=o.num_virtual_tokens,
            prefix_projection=o.projection,
            encoder_hidden_size=o.projection_hidden_size or base.config.hidden_size,
            num_layers=len(arch.blocks(base)),
            num_attention_heads=arch.num_attention_heads(base.config),
            token_dim=base.config.hidden_size,
        )
        return _peft.wrap(self, model, config)

    def saved_options(self, model) -> dict:
        return {**self.options.to_dict(), "route": route_of(model)}

    def check_peft_artifact(self, model) -> None:
        refusal = peft_refusal(model)
        if refusal:
            raise UpstreamError(
                self.name, arch.model_label(model),
                f"this artifact was made by peft's past_key_values route, and {refusal}; load it where the "
                "tested lock is installed (pip install -c constraints.txt) or retrain it, which takes the "
                "native route", ("transformers", "peft"))


def route_of(model) -> str:
    """The route that made a prefixed model."""
    return "native" if hasattr(arch.unwrap(model), "peftkit_prefix") else "peft"


def peft_refusal(model) -> str | None:
    """Why peft's prefix tuning cannot run on ``model`` (None: it can). peft passes the prefixes as
    ``past_key_values`` to the model's forward, or else to its body's, and refuses when neither names it."""
    model = arch.unwrap(model)
    body = arch.body(model)
    if any("past_key_values" in inspect.signature(m.forward).parameters for m in (model, body)):
        return None
    return (f"{type(body).__name__}.forward takes no past_key_values, which peft's prefix tuning passes "
            "the prefixes as")
