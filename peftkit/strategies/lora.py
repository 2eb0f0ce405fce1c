"""LoRA (Hu et al., 2021) through peft."""

from __future__ import annotations

from dataclasses import dataclass, replace

import peft

from .. import architectures as arch
from ..options import StrategyOptions, option
from ..registry import register_strategy
from ..tasks.token_classification import TokenClassification
from . import _peft
from .base import TrainDefaults, carried_over_rule, steps_rule


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

    def validate(self):
        self.positive("r", "alpha")
        self.in_range("dropout", 0.0, 1.0)
        self._require(self.dropout < 1.0, "dropout", "below 1")
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
        config = peft.LoraConfig(r=o.r, lora_alpha=o.alpha, lora_dropout=o.dropout, target_modules=o.targets(spec),
                                 fan_in_fan_out=spec.fan_in_fan_out, use_dora=o.use_dora, use_rslora=o.use_rslora)
        return _peft.wrap(self, model, config)


def lora_rate(method: str) -> TrainDefaults:
    """The defaults of a method that updates the same projections as lora and has no measured rate of its own
    yet: lora's rate and steps rule (a held-out `--search lr` is the check)."""
    return replace(LoraStrategy.defaults, source=f"lora's rate for updates on the same projections; not searched "
                   f"for {method} yet", steps_source=carried_over_rule(method)["steps_source"])
