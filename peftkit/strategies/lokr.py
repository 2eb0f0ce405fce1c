"""LoKr (Yeh et al., 2024, LyCORIS) through peft: the update is a Kronecker product of a small full matrix and
a low-rank one, so a few parameters span a full-rank update."""

from __future__ import annotations

from dataclasses import dataclass

import peft

from ..options import option
from ..registry import register_strategy
from . import _peft
from .lora import lora_rate


@dataclass
class LokrOptions(_peft.TargetOptions):
    r: int = option(8, "rank of the low-rank Kronecker factor (peft's default)")
    alpha: float = option(8.0, "scaling numerator: the update is scaled by alpha / r (peft's default)")
    decompose_factor: int = option(-1, "size of the small Kronecker factor; -1: as balanced as the shape allows")
    rank_dropout: float = option(0.0, "dropout on the rank dimension in training")
    module_dropout: float = option(0.0, "probability of skipping the update of a module in a training step")

    def validate(self):
        super().validate()
        self.positive("r", "alpha")
        self._require(self.decompose_factor == -1 or self.decompose_factor > 0, "decompose_factor", "-1 or positive")
        self.in_range("rank_dropout", 0.0, 1.0)
        self.in_range("module_dropout", 0.0, 1.0)


@register_strategy
class LokrStrategy(_peft.TunerStrategy):
    name = "lokr"
    family = "reparametrised"
    description = "LoKr: Kronecker product of a small matrix and a low-rank one on query and value (via peft)."
    merge_blocker = None
    linear_only = True
    defaults = lora_rate("LoKr")
    Options = LokrOptions

    def peft_config(self, spec, model):
        o = self.options
        return peft.LoKrConfig(r=o.r, alpha=o.alpha, decompose_factor=o.decompose_factor, rank_dropout=o.rank_dropout,
                               module_dropout=o.module_dropout, target_modules=_peft.targets(o.target_modules, spec))
