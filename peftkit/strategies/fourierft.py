"""FourierFT (Gao et al., 2024) through peft: each adapted projection trains ``n_frequency`` coefficients of
its update's 2-D Fourier spectrum, at fixed random frequencies; the update is their inverse transform."""

from __future__ import annotations

import re
from dataclasses import dataclass

import peft

from ..options import option
from ..registry import register_strategy
from . import _peft
from .base import TrainDefaults, carried_over_rule


@dataclass
class FourierOptions(_peft.TargetOptions):
    n_frequency: int = option(1000, "trained spectral coefficients per projection (peft's default, the paper's for "
                              "base models); a projection with fewer weights trains them all")
    scaling: float = option(150.0, "scale of the update (peft's default; the paper's GLUE runs use 29..151)")
    frequency_seed: int = option(777, "seed of the frequencies' random locations (peft's default)")

    def validate(self):
        super().validate()
        self.positive("n_frequency", "scaling")


@register_strategy
class FourierStrategy(_peft.TunerStrategy):
    name = "fourierft"
    family = "reparametrised"
    description = "FourierFT: a few trained Fourier coefficients of each query and value update (via peft)."
    merge_blocker = None
    defaults = TrainDefaults(5e-2, source="FourierFT's GLUE scripts (Gao et al., 2024, RoBERTa-base): spectral rates "
                             "5e-2..1.2e-1 with n_frequency 1000, head rates 1e-3..1.1e-2; 5e-2 for both here, not "
                             "searched yet", **carried_over_rule("FourierFT"))
    Options = FourierOptions

    def peft_config(self, spec, model):
        o = self.options
        config = peft.FourierFTConfig(n_frequency=o.n_frequency, scaling=o.scaling, random_loc_seed=o.frequency_seed,
                                      fan_in_fan_out=spec.fan_in_fan_out,
                                      target_modules=_peft.targets(o.target_modules, spec))
        # a projection with fewer weights than n_frequency trains all of its coefficients (peft would refuse);
        # peft matches these keys as the end of a module's name, after a dot
        config.n_frequency_pattern = {re.escape(name.split(".", 1)[1]): size
                                      for name, size in _peft.target_sizes(config, model) if size < o.n_frequency}
        return config
