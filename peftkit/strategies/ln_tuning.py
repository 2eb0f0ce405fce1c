"""LN tuning (Zhao et al., 2024) through peft: only the normalisation layers of the body train (every
LayerNorm or RMSNorm: embeddings, blocks, the final norm), plus the task head."""

from __future__ import annotations

import peft

from .. import architectures as arch
from ..registry import register_strategy
from . import _peft
from .base import TrainDefaults, carried_over_rule


@register_strategy
class LnTuningStrategy(_peft.TunerStrategy):
    name = "ln_tuning"
    family = "selective"
    description = "LN tuning: train only the LayerNorm / RMSNorm weights of the body, plus the head (via peft)."
    merge_blocker = None
    defaults = TrainDefaults(1e-3, source="BitFit's rate (a selective method that trains as few parameters); not "
                             "searched for LN tuning yet", **carried_over_rule("LN tuning"))

    def peft_config(self, spec, model):
        return peft.LNTuningConfig(target_modules=arch.norm_names(model))
