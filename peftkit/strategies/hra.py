"""HRA (Yuan et al., 2024) through peft: each adapted projection is multiplied by a chain of r trained
Householder reflections, an orthogonal update with r vectors of the input size."""

from __future__ import annotations

from dataclasses import dataclass

import peft

from ..options import option
from ..registry import register_strategy
from . import _peft
from .lora import lora_rate


@dataclass
class HraOptions(_peft.TargetOptions):
    r: int = option(8, "number of Householder reflections (peft's default); an even number")
    apply_gs: bool = option(False, "orthogonalise the reflections (Gram-Schmidt), as the paper's variant does")

    def validate(self):
        super().validate()
        self.positive("r")
        self._require(self.r % 2 == 0, "r", "even (peft initialises the reflections in pairs)")


@register_strategy
class HraStrategy(_peft.TunerStrategy):
    name = "hra"
    family = "reparametrised"
    description = "HRA: a chain of trained Householder reflections on the query and value projections (via peft)."
    merge_blocker = None
    linear_only = True
    defaults = lora_rate("HRA")
    Options = HraOptions

    def peft_config(self, spec, model):
        o = self.options
        return peft.HRAConfig(r=o.r, apply_GS=o.apply_gs, target_modules=_peft.targets(o.target_modules, spec))
