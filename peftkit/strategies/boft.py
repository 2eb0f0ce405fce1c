"""BOFT (Liu et al., 2024) through peft: OFT's orthogonal rotation built as a product of sparse butterfly
factors, so that it mixes every input dimension with few parameters."""

from __future__ import annotations

from dataclasses import dataclass

import peft

from ..options import option
from ..registry import register_strategy
from . import _peft
from .lora import lora_rate


@dataclass
class BoftOptions(_peft.TargetOptions):
    block_size: int = option(4, "size of each orthogonal block (peft's default)")
    butterfly_factors: int = option(1, "number of butterfly factors; 1 is block-diagonal OFT (peft's default)")
    dropout: float = option(0.0, "multiplicative dropout on the blocks in training")

    def validate(self):
        super().validate()
        self.positive("block_size", "butterfly_factors")
        self.in_range("dropout", 0.0, 1.0)


@register_strategy
class BoftStrategy(_peft.TunerStrategy):
    name = "boft"
    family = "reparametrised"
    description = "BOFT: an orthogonal rotation of the query and value inputs made of butterfly factors (via peft)."
    merge_blocker = None
    linear_only = True
    defaults = lora_rate("BOFT")
    Options = BoftOptions

    def peft_config(self, spec, model):
        o = self.options
        return peft.BOFTConfig(boft_block_size=o.block_size, boft_n_butterfly_factor=o.butterfly_factors,
                               boft_dropout=o.dropout, target_modules=_peft.targets(o.target_modules, spec))
