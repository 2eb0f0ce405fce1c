"""BitFit (Ben Zaken et al., 2022): train only the bias terms (and the new task head)."""

from .. import architectures as arch
from ..registry import register_strategy
from .base import Strategy, TrainDefaults, carried_over_rule, freeze, unfreeze_head


@register_strategy
class BitFitStrategy(Strategy):
    name = "bitfit"
    family = "selective"
    description = "BitFit: train only the bias terms of the pretrained body, plus the task head."
    merge_blocker = None
    defaults = TrainDefaults(1e-3, source="BitFit paper (Ben Zaken et al., 2022): 1e-4..1e-3",
        **carried_over_rule("BitFit"))

    def apply(self, model):
        spec = arch.arch_for(model)
        biases = [p for n, p in model.named_parameters()
                  if n.endswith(".bias") and not arch.is_head_name(spec, n)]
        if not biases:
            raise arch.unsupported(
                self.name, model,
                "the model has no bias terms outside the head (e.g. Llama without attention_bias/mlp_bias); "
                "use lora or ia3 instead",
            )
        freeze(model)
        for p in biases:
            p.requires_grad_(True)
        unfreeze_head(model)
        return self._mark(model)
