"""AdaLoRA (Zhang et al., ICLR 2023) through peft: LoRA in SVD form (P·Λ·Q) whose rank budget moves during
training to the projections that matter, by the sensitivity of each singular value.

The budget schedule runs on optimizer steps: ``tinit`` of them at the initial rank, then the budget shrinks to
``target_r`` on average until ``tfinal`` steps before the end, then the ranks stay fixed. peft needs the run's
total step count for it, and a call of ``update_and_allocate`` after every optimizer step. peftkit gives both:
its runs and a transformers ``Trainer`` with ``strategy.callbacks()`` take the count from the Trainer
(``state.max_steps``) and call it; a loop of one's own calls ``strategy.on_train_begin(model, total_steps=N)``
and ``strategy.on_optimizer_step`` (examples/custom_loop.py). ``tinit`` and ``tfinal`` are fractions of the run, so
that the schedule keeps its shape at every data size (the steps rule changes the count, not the shape).

The artifact is peft's: the ranks that survived (``rank_pattern`` in adapter_config.json, the weights trimmed).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import peft
from transformers import TrainerCallback

from ..errors import OptionError
from ..options import option
from ..registry import register_strategy
from . import _peft
from .lora import lora_rate

PLACEHOLDER_STEPS = 1000  # the schedule's length until the run's is known (on_train_begin, before the first step)


@dataclass
class AdaloraOptions(_peft.TargetOptions):
    init_r: int = option(12, "initial rank of every update (1.5 times target_r, the paper's starting budget)")
    target_r: int = option(8, "average rank once the budget has shrunk (lora's r: the same final budget)")
    alpha: float = option(16.0, "scaling numerator: the update is scaled by alpha / init_r (the paper's scripts: 16)")
    dropout: float = option(0.1, "dropout on the input of the update (lora's 0.1)")
    tinit: float = option(0.12, "fraction of the run's steps at the initial rank before the budget shrinks (the "
                          "paper's SST-2 script: 6,000 of about 50,000 steps)")
    tfinal: float = option(0.44, "fraction of the run's steps at the end with the final ranks fixed (that script: "
                           "22,000 of about 50,000)")
    delta_t: int = option(10, "optimizer steps between two reallocations (the paper: 100 in runs of 50,000 steps; "
                          "10 keeps about 50 reallocations in a run of 1,200)")
    beta1: float = option(0.85, "smoothing of the sensitivity (the paper's 0.85)")
    beta2: float = option(0.85, "smoothing of its uncertainty (the paper's 0.85)")
    orth_reg_weight: float = option(0.1, "weight of the penalty keeping P and Q orthogonal (the paper's scripts: "
                                    "0.1; peft's default is 0.5)")

    def validate(self):
        super().validate()
        self.positive("init_r", "target_r", "alpha", "delta_t")
        self._require(self.target_r <= self.init_r, "target_r", f"at most init_r ({self.init_r})")
        self.in_range("dropout", 0.0, 1.0)
        self._require(self.dropout < 1.0, "dropout", "below 1")
        for name in ("tinit", "tfinal"):
            self._require(0 <= getattr(self, name) < 1, name, "a fraction of the run's steps in [0, 1)")
        self._require(self.tinit + self.tfinal < 1, "tfinal", f"below 1 - tinit ({1 - self.tinit:g}): the budget "
                      "needs steps to shrink in")
        for name in ("beta1", "beta2"):
            self._require(0 < getattr(self, name) < 1, name, "in (0, 1)")
        self._require(self.orth_reg_weight >= 0, "orth_reg_weight", "0 or more")


@register_strategy
class AdaloraStrategy(_peft.TunerStrategy):
    name = "adalora"
    family = "reparametrised"
    description = "AdaLoRA: SVD-form LoRA whose rank budget moves to the projections that matter during training (via peft)."
    merge_blocker = None
    defaults = replace(lora_rate("AdaLoRA"), source="lora's rate (the paper: 8e-4 at batch 32 for SST-2 on "
                       "DeBERTaV3-base, 24 epochs); not searched for adalora yet")
    Options = AdaloraOptions

    def peft_config(self, spec, model):
        o = self.options
        return peft.AdaLoraConfig(init_r=o.init_r, target_r=o.target_r, lora_alpha=o.alpha, lora_dropout=o.dropout,
                                  target_modules=_peft.targets(o.target_modules, spec), fan_in_fan_out=spec.fan_in_fan_out,
                                  deltaT=o.delta_t, beta1=o.beta1, beta2=o.beta2, orth_reg_weight=o.orth_reg_weight,
                                  **schedule(o, PLACEHOLDER_STEPS))

    def apply(self, model):
        model = super().apply(model)
        for name, p in model.named_parameters():  # the rank count is a constant; peft leaves it trainable on meta
            if ".ranknum." in name:
                p.requires_grad_(False)
        model.peftkit_total_steps = None  # known once training begins (on_train_begin)
        return model

    def load_weights(self, model, directory, fmt):
        with warnings.catch_warnings():  # peft matches the saved rank_pattern's keys only after this warning, and
            warnings.filterwarnings("ignore", message="The following rank_pattern keys did not match")  # then resizes
            return super().load_weights(model, directory, fmt)

    def on_train_begin(self, model, *, total_steps: int) -> None:
        """Fit the budget schedule to a run of ``total_steps`` optimizer steps."""
        config = model.peft_config["default"]
        for key, value in schedule(self.options, total_steps).items():
            setattr(config, key, value)
        model.peftkit_total_steps = total_steps

    def on_optimizer_step(self, model, *, global_step: int) -> None:
        if getattr(model, "peftkit_total_steps", None) is None:  # not applied by this strategy, or not begun
            raise OptionError(f"strategy '{self.name}': its rank budget schedule needs the run's total optimizer steps: "
                              "call strategy.on_train_begin(model, total_steps=N) before the first step, or train with a "
                              "transformers Trainer and strategy.callbacks(), which take it from the Trainer")
        model.base_model.update_and_allocate(global_step)

    def callbacks(self):
        return [AdaloraScheduleCallback(self)]


def schedule(options: AdaloraOptions, steps: int) -> dict[str, int]:
    """peft's schedule fields for a run of ``steps`` optimizer steps (at least one step to shrink in)."""
    tinit, tfinal = int(options.tinit * steps), int(options.tfinal * steps)
    return {"total_step": steps, "tinit": min(tinit, max(steps - tfinal - 1, 0)), "tfinal": tfinal}


class AdaloraScheduleCallback(TrainerCallback):
    """Takes the run's step count from the Trainer and reallocates the budget after every optimizer step."""

    def __init__(self, strategy: AdaloraStrategy):
        self.strategy = strategy

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.strategy.on_train_begin(model, total_steps=state.max_steps)

    def on_optimizer_step(self, args, state, control, model=None, **kwargs):
        self.strategy.on_optimizer_step(model, global_step=state.global_step)
