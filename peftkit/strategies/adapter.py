"""Bottleneck adapters (Houlsby et al., 2019; Pfeiffer et al., 2021), implemented in peftkit.

An adapter is ``x + up(act(down(x)))`` applied to the output of a sub-layer's projection, before the
residual connection and layer norm. ``up`` starts at zero, so an adapted model computes exactly what
the pretrained one did until training moves it (near-identity at initialisation).

- ``houlsby``: after the attention output projection and after the feed-forward output;
- ``pfeiffer``: after the feed-forward output only.

Adapters attach to the projection with a forward hook and live as a child ``peftkit_adapter`` of the
projection's parent, so the pretrained weights keep their names.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import nn

from .. import architectures as arch
from ..errors import OptionError
from ..options import StrategyOptions, option
from ..params import AddedModule
from ..registry import register_strategy
from ..tasks.token_classification import TokenClassification
from .base import Strategy, TrainDefaults, freeze, steps_rule, unfreeze_head

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "swish": nn.SiLU, "silu": nn.SiLU, "tanh": nn.Tanh}


class Bottleneck(AddedModule):
    def __init__(self, dim: int, bottleneck: int, activation: str, init_std: float, device=None, dtype=None):
        super().__init__()
        self.down = nn.Linear(dim, bottleneck, device=device, dtype=dtype)
        self.act = ACTIVATIONS[activation]()
        self.up = nn.Linear(bottleneck, dim, device=device, dtype=dtype)
        if self.down.weight.device.type != "meta":
            with torch.no_grad():
                nn.init.normal_(self.down.weight, std=init_std)
                nn.init.zeros_(self.down.bias)
                nn.init.zeros_(self.up.weight)
                nn.init.zeros_(self.up.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden + self.up(self.act(self.down(hidden)))

    def hook(self, module: nn.Module, inputs, output: torch.Tensor) -> torch.Tensor:
        return self(output)


@dataclass
class AdapterOptions(StrategyOptions):
    variant: Literal["houlsby", "pfeiffer"] = option(
        "houlsby", "houlsby: after attention and feed-forward; pfeiffer: after feed-forward only")
    reduction_factor: int = option(16, "bottleneck = hidden size / reduction_factor")
    bottleneck: int | None = option(None, "bottleneck width; overrides reduction_factor")
    activation: Literal["relu", "gelu", "swish", "silu", "tanh"] = option("relu", "non-linearity inside the adapter")
    init_std: float = option(1e-2, "std of the down projection's initial weights (up starts at zero)")

    def validate(self):
        self.positive("reduction_factor", "bottleneck")
        self.in_range("init_std", 0.0, 1.0)


@register_strategy
class AdapterStrategy(Strategy):
    name = "adapter"
    family = "additive"
    description = "Bottleneck adapters (Houlsby or Pfeiffer) after attention / feed-forward; the model stays frozen."
    merge_blocker = "bottleneck adapters are non-linear modules added to the network: they cannot be folded into the existing weights"
    defaults = TrainDefaults(1e-3, source="Houlsby et al., 2019 grid 3e-5..3e-3; AdapterHub: 1e-4 for large data, up to 1e-3 for small data and few epochs; 1e-3 kept over 5e-4 and 2e-3 by `--search lr` on held-out SST-2 training data (benchmarks/results/search-sst2-adapter)",
        **steps_rule(
            "held-out SST-2 subsamples at 3, 10 and 20 epochs (benchmarks/results/grid-sst2-500 and -1000): "
            "0.785, 0.815 and 0.801 with 500 examples (96, 320, 640 steps), 0.798, 0.832 and 0.815 with 1,000 "
            "(189, 630, 1,260 steps): adapters gain from more steps up to about 600 and then over-fit",
            min_steps=600, max_epochs=10.0))
    task_defaults = {TokenClassification.name: replace(
        defaults, learning_rate=3e-3, source="3e-3 chosen over 1e-3 (sentence classification's) and 3.3e-4 by `--search lr` on held-out "
                     "CoNLL-2003 training data, entity F1 0.859, 0.848 and 0.798 (benchmarks/results/search-conll)")}
    Options = AdapterOptions
    core = True

    def apply(self, model):
        o = self.options
        roles = ("attn_out", "ffn_out") if o.variant == "houlsby" else ("ffn_out",)
        targets = arch.find_modules(model, *roles)
        if not targets:
            raise arch.unsupported(self.name, model, "no attention or feed-forward output projection found")
        freeze(model)
        base = arch.unwrap(model)
        for name, projection in targets:
            dim = arch.out_features(projection)
            width = o.bottleneck or dim // o.reduction_factor
            if width < 1:
                raise OptionError(f"adapter: reduction_factor={o.reduction_factor} leaves no bottleneck for width {dim}")
            weight = projection.weight
            adapter = Bottleneck(dim, width, o.activation, o.init_std, device=weight.device, dtype=weight.dtype)
            parent_name, _, child = name.rpartition(".")
            parent = base.get_submodule(parent_name)
            parent.add_module(f"peftkit_adapter_{child}", adapter)
            projection.register_forward_hook(adapter.hook)
        unfreeze_head(model)
        return self._mark(model)
