"""Frozen encoder, trained head."""

from ..registry import register_strategy
from .base import Strategy, freeze, unfreeze_head


@register_strategy
class HeadStrategy(Strategy):
    name = "head"
    description = "Freeze the pretrained body; train only the task head (classifier / pre_classifier / score)."
    core = True

    def apply(self, model):
        freeze(model)
        unfreeze_head(model)
        return self._mark(model)
