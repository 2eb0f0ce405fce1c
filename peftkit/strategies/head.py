"""Frozen encoder, trained head."""

from ..registry import register_strategy
from .base import Strategy, TrainDefaults, freeze, unfreeze_head


@register_strategy
class HeadStrategy(Strategy):
    name = "head"
    description = "Freeze the pretrained body; train only the task head (classifier / pre_classifier / score)."
    defaults = TrainDefaults(5e-3, epochs=3.0, warmup=0.0, weight_decay=0.0, source="linear probing: a single layer on frozen features tolerates a large rate (Kumar et al., 2022 use 1e-3..1e-2)")
    core = True

    def apply(self, model):
        freeze(model)
        unfreeze_head(model)
        return self._mark(model)
