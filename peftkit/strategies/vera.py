"""VeRA (Kopiczko et al., 2024) through peft: one pair of frozen random low-rank matrices shared by every
layer; each adapted projection trains only two scaling vectors, far fewer parameters than LoRA."""

from __future__ import annotations

from dataclasses import dataclass

import peft

from ..options import option
from ..registry import register_strategy
from . import _peft
from .base import TrainDefaults, carried_over_rule


@dataclass
class VeraOptions(_peft.TargetOptions):
    r: int = option(256, "rank of the shared random matrices (peft's default; the paper uses 1024 on RoBERTa-base)")
    d_initial: float = option(0.1, "initial value of the scaling vector d (peft's default, the paper's)")
    dropout: float = option(0.0, "dropout on the VeRA input")
    projection_seed: int = option(0, "seed of the shared random matrices (saved with the adapter)")

    def validate(self):
        super().validate()
        self.positive("r", "d_initial")
        self.in_range("dropout", 0.0, 1.0)


@register_strategy
class VeraStrategy(_peft.TunerStrategy):
    name = "vera"
    family = "reparametrised"
    description = "VeRA: shared frozen random low-rank matrices, two trained scaling vectors per projection (via peft)."
    merge_blocker = None
    defaults = TrainDefaults(4e-3, source="VeRA paper (Kopiczko et al., 2024), GLUE on RoBERTa-base: 4e-3 for SST-2, "
                             "up to 1e-2 for other tasks; not searched here yet", **carried_over_rule("VeRA"))
    Options = VeraOptions

    def peft_config(self, spec, model):
        o = self.options
        return peft.VeraConfig(r=o.r, d_initial=o.d_initial, vera_dropout=o.dropout, projection_prng_key=o.projection_seed,
                               save_projection=True, fan_in_fan_out=spec.fan_in_fan_out,
                               target_modules=_peft.targets(o.target_modules, spec))
