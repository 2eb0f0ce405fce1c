"""LoRA (Hu et al., 2021) through peft."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import peft

from .. import architectures as arch
from ..options import StrategyOptions, option
from ..registry import register_strategy
from ..tasks.token_classification import TokenClassification
from . import _peft, lora_init
from .base import TrainDefaults, carried_over_rule, is_no_decay, steps_rule
from .optimizer import ParameterGroupsCallback


@dataclass
class LoraOptions(StrategyOptions):
    r: int = option(8, "rank of the update matrices")
    alpha: float = option(16.0, "scaling numerator: the update is scaled by alpha / r")
    dropout: float = option(0.1, "dropout on the LoRA input (0.1 as in the LoRA paper's GLUE runs)")
    target_modules: tuple[str, ...] | None = option(None, _peft.TARGETS_HELP)
    use_dora: bool = option(False, "DoRA (Liu et al., 2024): a trained magnitude per output feature times the "
                            "LoRA-updated direction")
    use_rslora: bool = option(False, "rsLoRA (Kalajdzievski, 2023): scale the update by alpha / sqrt(r), not "
                              "alpha / r, so that higher ranks keep learning")
    init: Literal[lora_init.INITS] = option(
        "default", "how A and B start: default (A Kaiming-uniform, B zero), gaussian, pissa (PiSSA, Meng et al., "
        "2024: the top r singular directions of each weight) or olora (OLoRA, Büyükakyüz, 2024: its QR); pissa and "
        "olora take those out of the frozen weights, and the artifact is converted to a plain LoRA adapter of rank 2r")
    loraplus_lr_ratio: float | None = option(
        None, "LoRA+ (Hayou et al., 2024): B trains at this multiple of the rate, A and the head at the rate "
        "(the paper's ratio for GLUE-size models: 16; it suggests lowering the rate somewhat); default: off")

    def validate(self):
        self.positive("r", "alpha")
        self.in_range("dropout", 0.0, 1.0)
        self._require(self.dropout < 1.0, "dropout", "below 1")
        self._require(self.loraplus_lr_ratio is None or self.loraplus_lr_ratio >= 1, "loraplus_lr_ratio",
                      "1 or more (B's rate over A's)")
        self._require(not (self.use_dora and self.init in lora_init.CHANGES_BASE), "init",
                      "default or gaussian with use_dora (DoRA's magnitudes are of the weights pissa and olora change)")
        _peft.check_targets(self)

    def targets(self, spec: arch.ArchSpec) -> list[str] | str:
        return _peft.targets(self.target_modules, spec)


@register_strategy
class LoraStrategy(_peft.PeftStrategy):
    name = "lora"
    family = "reparametrised"
    description = "LoRA: low-rank updates on the attention query and value projections (via peft)."
    merge_blocker = None
    defaults = TrainDefaults(1e-3, source="LoRA paper (Hu et al., 2021): 4e-4..5e-4 over 30-80 epochs on GLUE; doubled for a 3-epoch budget",
        **steps_rule(
            "held-out SST-2 subsamples at 3, 10 and 20 epochs (benchmarks/results/grid-sst2-500 and -1000): "
            "0.738, 0.828 and 0.832 with 500 examples (96, 320, 640 steps), 0.798, 0.825 and 0.847 with 1,000"
            " (189, 630, 1,260 steps)"))
    task_defaults = {TokenClassification.name: replace(
        defaults, learning_rate=3e-3, source="3e-3 chosen over 1e-3 (sentence classification's) and 3.3e-4 by `--search lr` on held-out "
                     "CoNLL-2003 training data, entity F1 0.852, 0.847 and 0.790 (benchmarks/results/search-conll)")}
    Options = LoraOptions
    core = True

    def apply(self, model):
        o = self.options
        spec = arch.arch_for(model)
        if o.init == "olora" and spec.conv1d:
            raise arch.unsupported(self.name, model, f"peft's OLoRA decomposes torch Linear weights only, and {spec.name} "
                                   "stores its projections as Conv1D; use init=pissa")
        # a model without weights (peftkit params, estimate) has nothing to decompose: the same shapes, inited plainly
        decomposes = o.init in lora_init.CHANGES_BASE and not next(model.parameters()).is_meta
        init = o.init if decomposes or o.init not in lora_init.CHANGES_BASE else "default"
        config = peft.LoraConfig(r=o.r, lora_alpha=o.alpha, lora_dropout=o.dropout, target_modules=o.targets(spec),
                                 fan_in_fan_out=spec.fan_in_fan_out, use_dora=o.use_dora, use_rslora=o.use_rslora,
                                 init_lora_weights=lora_init.PEFT_INIT[init])
        model = _peft.wrap(self, model, config)
        if decomposes:
            lora_init.remember_initial(model)
        return model

    def save_weights(self, model, directory: Path) -> str:
        if _peft.is_peft_model(model) and lora_init.changed_base(model):
            lora_init.save_as_plain_lora(model, directory)
            return "peft"
        return super().save_weights(model, directory)

    # -- LoRA+: B at a multiple of the rate ---------------------------------------------------------
    def parameter_groups(self, model, lr, weight_decay=0.0):
        ratio = self.options.loraplus_lr_ratio
        if not ratio:
            return super().parameter_groups(model, lr, weight_decay)
        groups: dict[tuple[bool, bool], dict] = {}
        for name, p in model.named_parameters():
            if p.requires_grad:
                is_b, no_decay = ".lora_B." in name, is_no_decay(name, p)
                groups.setdefault((is_b, no_decay), {"params": [], "lr": lr * ratio if is_b else lr,
                                                     "weight_decay": 0.0 if no_decay else weight_decay})["params"].append(p)
        return [groups[k] for k in sorted(groups)]

    def callbacks(self):
        return [ParameterGroupsCallback(self)] if self.options.loraplus_lr_ratio else []


def lora_rate(method: str) -> TrainDefaults:
    """The defaults of a method that updates the same projections as lora and has no measured rate of its own
    yet: lora's rate and steps rule (a held-out `--search lr` is the check)."""
    return replace(LoraStrategy.defaults, source=f"lora's rate for updates on the same projections; not searched "
                   f"for {method} yet", steps_source=carried_over_rule(method)["steps_source"])
