"""Prompt tuning (Lester et al., 2021) through peft: trainable virtual tokens before the input.

On a task that labels tokens, peft hands the head the prompt positions too (num_virtual_tokens more than
the labels); a hook on the head drops them first, so that the logits line up with the input and its
labels, in training, in prediction and after loading (``_mark`` runs on both).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import peft

from .. import architectures as arch
from ..errors import OptionError
from ..options import StrategyOptions, option
from ..registry import register_strategy
from . import _peft
from .base import TrainDefaults, VirtualTokens, steps_rule


@dataclass
class PromptOptions(StrategyOptions):
    num_virtual_tokens: int = option(20, "number of trainable virtual tokens prepended to the input")
    init: Literal["random", "text"] = option("random", "initialise the prompt randomly or from the embeddings of init_text")
    init_text: str | None = option(None, "text whose token embeddings initialise the prompt (with init=text)")
    tokenizer: str | None = option(None, "tokenizer for init_text; default: the model's own name_or_path")

    def validate(self):
        self.positive("num_virtual_tokens")
        if self.init == "text" and not self.init_text:
            raise OptionError("option 'init_text' is required when init=text, e.g. prompt:init=text,init_text=classify the sentiment")


@register_strategy
class PromptStrategy(_peft.PeftStrategy):
    name = "prompt"
    family = "additive"
    description = "Prompt tuning: trainable soft-prompt embeddings before the input; the model stays frozen (via peft)."
    merge_blocker = "soft prompts are extra input embeddings, not a change of weights"
    defaults = TrainDefaults(3e-2, source="peft prompt-tuning examples use 3e-2 with AdamW (Lester et al., 2021 use 0.3 with Adafactor)",
        **steps_rule(
            "held-out SST-2 subsamples at 3, 10 and 20 epochs (benchmarks/results/grid-sst2-500 and -1000): "
            "0.536, 0.702 and 0.780 with 500 examples (96, 320, 640 steps), 0.618, 0.720 and 0.733 with 1,000 (189, "
            "630, 1,260 steps)"))
    Options = PromptOptions
    core = True

    def virtual_tokens(self) -> VirtualTokens:
        return VirtualTokens(prompt=self.options.num_virtual_tokens)

    def apply(self, model):
        o = self.options
        base = arch.unwrap(model)
        kwargs = dict(
            num_virtual_tokens=o.num_virtual_tokens,
            # ALBERT and ELECTRA embed tokens in fewer dimensions than their hidden size: the prompt
            # must live where the token embeddings live, not in hidden_size.
            token_dim=arch.input_embedding_dim(base),
            num_layers=len(arch.blocks(base)),
            num_attention_heads=arch.num_attention_heads(base.config),
        )
        if o.init == "text":
            tokenizer = o.tokenizer or getattr(base.config, "name_or_path", None)
            if not tokenizer:
                raise OptionError("prompt: init=text needs a tokenizer: pass tokenizer=<name or directory>")
            if arch.model_device(base).type == "meta":
                raise OptionError("prompt: init=text needs real token embeddings, not a model on the meta device")
            kwargs.update(prompt_tuning_init=peft.PromptTuningInit.TEXT, prompt_tuning_init_text=o.init_text,
                          tokenizer_name_or_path=tokenizer)
        return _peft.wrap(self, model, peft.PromptTuningConfig(**kwargs))

    def _mark(self, model):
        from ..tasks import task_of

        model = super()._mark(model)
        base = arch.unwrap(model)
        task = task_of(model)
        if task.per_token and getattr(base, "peftkit_prompt_hook", None) is None:
            skip = self.options.num_virtual_tokens
            head = base.get_submodule(task.head(base)[0])
            base.peftkit_prompt_hook = head.register_forward_pre_hook(lambda module, args: (args[0][:, skip:], *args[1:]))
        return model
