"""OFT (Qiu et al., 2023) through peft: each adapted projection's input is rotated by a trained block-diagonal
orthogonal matrix, which keeps the angles between the pretrained weights' neurons."""

from __future__ import annotations

from dataclasses import dataclass

import peft

from ..options import option
from ..registry import register_strategy
from . import _peft
from .lora import lora_rate


@dataclass
class OftOptions(_peft.TargetOptions):
    block_size: int = option(32, "size of each orthogonal block; it must divide the projections' input size "
                             "(peft's default)")
    coft: bool = option(False, "constrained OFT: keep the rotation within eps of the identity")
    eps: float = option(6e-5, "coft's bound (peft's default)")
    module_dropout: float = option(0.0, "probability of skipping the rotation of a block in a training step")

    def validate(self):
        super().validate()
        self.positive("block_size", "eps")
        self.in_range("module_dropout", 0.0, 1.0)


@register_strategy
class OftStrategy(_peft.TunerStrategy):
    name = "oft"
    family = "reparametrised"
    description = "OFT: a trained block-diagonal orthogonal rotation of the query and value inputs (via peft)."
    merge_blocker = None
    linear_only = True
    defaults = lora_rate("OFT")
    Options = OftOptions

    def peft_config(self, spec, model):
        o = self.options
        return peft.OFTConfig(r=0, oft_block_size=o.block_size, coft=o.coft, eps=o.eps, module_dropout=o.module_dropout,
                              target_modules=_peft.targets(o.target_modules, spec))
