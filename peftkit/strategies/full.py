"""Full fine-tuning: every parameter trains."""

from ..registry import register_strategy
from .base import Strategy


@register_strategy
class FullStrategy(Strategy):
    name = "full"
    description = "Full fine-tuning: every parameter of the model trains."
    core = True

    def apply(self, model):
        for p in model.parameters():
            p.requires_grad_(True)
        return self._mark(model)
