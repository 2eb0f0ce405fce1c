"""LoHa (Hyeon-Woo et al., 2022, FedPara; as in LyCORIS) through peft: the update is the Hadamard product of
two low-rank products, so rank r gives an update of rank up to r squared for twice LoRA's parameters."""

from __future__ import annotations

from dataclasses import dataclass

import peft

from ..options import option
from ..registry import register_strategy
from . import _peft
from .lora import lora_rate


@dataclass
class LohaOptions(_peft.TargetOptions):
    r: int = option(8, "rank of each of the two factors (peft's default)")
    alpha: float = option(8.0, "scaling numerator: the update is scaled by alpha / r (peft's default)")
    rank_dropout: float = option(0.0, "dropout on the rank dimension in training")
    module_dropout: float = option(0.0, "probability of skipping the update of a module in a training step")

    def validate(self):
        super().validate()
        self.positive("r", "alpha")
        self.in_range("rank_dropout", 0.0, 1.0)
        self.in_range("module_dropout", 0.0, 1.0)


@register_strategy
class LohaStrategy(_peft.TunerStrategy):
    name = "loha"
    family = "reparametrised"
    description = "LoHa: Hadamard product of two low-rank updates on query and value (via peft)."
    merge_blocker = None
    linear_only = True
    defaults = lora_rate("LoHa")
    Options = LohaOptions

    def peft_config(self, spec, model):
        o = self.options
        return peft.LoHaConfig(r=o.r, alpha=o.alpha, rank_dropout=o.rank_dropout, module_dropout=o.module_dropout,
                               target_modules=_peft.targets(o.target_modules, spec))
