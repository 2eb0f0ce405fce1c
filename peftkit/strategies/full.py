"""Full fine-tuning: every parameter trains."""

from dataclasses import dataclass

from ..options import StrategyOptions
from ..pooling import Pooling, apply_pooling, pooled_options, pooling_merge_blocker, pooling_option
from ..registry import register_strategy
from .base import Strategy, TrainDefaults, steps_rule


@dataclass
class FullOptions(StrategyOptions):
    pooling: Pooling = pooling_option("head")


@register_strategy
class FullStrategy(Strategy):
    name = "full"
    family = "full"
    description = "Full fine-tuning: every parameter of the model trains."
    merge_blocker = None
    defaults = TrainDefaults(1e-4, source="BERT paper (Devlin et al., 2019) grid 2e-5..5e-5 for BERT-base; 1e-4 for a small (6-layer, 384-wide) encoder and a 3-epoch budget, chosen over 5e-5 and 2e-4 by `--search lr` on held-out SST-2 training data (benchmarks/results/search-sst2 and search-sst2-round2 at commit 97d66d6; summed up in benchmarks/results/search-sst2-round3/README.md)",
        **steps_rule(
            "held-out subsamples at 3, 10 and 20 epochs (benchmarks/results/grid-sst2-500, -1000, grid-sst5-1000): "
            "SST-2 0.815, 0.827 and 0.808 with 500 examples, 0.838, 0.841 and 0.848 with 1,000; SST-5 0.412, 0.437 "
            "and 0.427 with 1,000: three epochs of small data are short for full fine-tuning too, ten are near its best",
            min_steps=600, max_epochs=10.0))
    Options = FullOptions
    core = True

    def apply(self, model):
        for p in model.parameters():
            p.requires_grad_(True)
        apply_pooling(self, model)
        return self._mark(model)

    def cannot_merge(self) -> str | None:
        return pooling_merge_blocker(self.options)

    def saved_options(self, model) -> dict:
        return pooled_options(self, model)
