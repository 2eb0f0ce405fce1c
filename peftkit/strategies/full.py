"""Full fine-tuning: every parameter trains."""

from ..registry import register_strategy
from .base import Strategy, TrainDefaults


@register_strategy
class FullStrategy(Strategy):
    name = "full"
    description = "Full fine-tuning: every parameter of the model trains."
    merge_blocker = None
    defaults = TrainDefaults(1e-4, source="BERT paper (Devlin et al., 2019) grid 2e-5..5e-5 for BERT-base; 1e-4 for a small (6-layer, 384-wide) encoder and a 3-epoch budget, chosen over 5e-5 by `--search lr` on held-out SST-2 training data (benchmarks/results/search-sst2)")
    core = True

    def apply(self, model):
        for p in model.parameters():
            p.requires_grad_(True)
        return self._mark(model)
