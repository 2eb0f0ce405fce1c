"""IA3 (Liu et al., 2022) through peft: learned rescaling of keys, values and feed-forward inputs."""

from __future__ import annotations

from dataclasses import dataclass

import peft

from .. import architectures as arch
from ..options import StrategyOptions, option
from ..registry import register_strategy
from . import _peft
from .base import TrainDefaults, carried_over_rule


@dataclass
class IA3Options(StrategyOptions):
    target_modules: tuple[str, ...] | None = option(
        None, "modules to rescale (suffix match); default: attention key and value and the feed-forward output")
    feedforward_modules: tuple[str, ...] | None = option(
        None, "which targets are feed-forward (their input is scaled); default: the feed-forward output")


@register_strategy
class IA3Strategy(_peft.PeftStrategy):
    name = "ia3"
    family = "additive"
    description = "IA3: learned vectors rescaling keys, values and feed-forward activations (via peft)."
    merge_blocker = None
    defaults = TrainDefaults(3e-3, source="IA3 / T-Few paper (Liu et al., 2022): 3e-3",
        **carried_over_rule("IA3"))
    Options = IA3Options

    def apply(self, model):
        o = self.options
        spec = arch.arch_for(model)
        if o.target_modules:
            targets = list(o.target_modules)
            feedforward = list(o.feedforward_modules or ())
        else:
            targets = spec.roles_regex("key", "value", "ffn_out")
            feedforward = list(o.feedforward_modules) if o.feedforward_modules else spec.role_regex("ffn_out")
        config = peft.IA3Config(target_modules=targets, feedforward_modules=feedforward,
                                fan_in_fan_out=spec.fan_in_fan_out)
        return _peft.wrap(self, model, config)
