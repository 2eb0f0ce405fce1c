"""Full fine-tuning: every parameter trains."""

from ..registry import register_strategy
from .base import Strategy, TrainDefaults


@register_strategy
class FullStrategy(Strategy):
    name = "full"
    description = "Full fine-tuning: every parameter of the model trains."
    merge_blocker = None
    defaults = TrainDefaults(5e-5, source="BERT paper (Devlin et al., 2019) grid 2e-5..5e-5, top end for a small 3-epoch budget; the TrainingArguments default")
    core = True

    def apply(self, model):
        for p in model.parameters():
            p.requires_grad_(True)
        return self._mark(model)
