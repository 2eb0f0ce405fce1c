"""Gradual unfreezing with discriminative learning rates (Howard & Ruder, ULMFiT, 2018).

Training starts with only the task head. Every ``unfreeze_every`` epochs (or steps), one more
transformer block is unfrozen from the top; after the bottom block, the embeddings, until everything
trains. Each group below the top block gets its upper neighbour's learning rate times ``lr_decay``
(ULMFiT divides by 2.6 per layer, the default). By default the unfreezing is spread over the first
epoch (see ``GradualStrategy.interval``).

Under DDP (``accelerate launch``) the model stays fully trainable until the Trainer has wrapped it,
so that DDP knows every parameter; layers that are still frozen then simply have no gradient (the
Trainer's default ``find_unused_parameters=True`` for DDP handles that).

Optimizers only update parameters they were given. A Trainer builds its optimizer once, from the
parameters that require grad at that moment, so the callback puts *every* parameter of the model in
the optimizer at the start of training (one group per depth); parameters still frozen have no
gradient, so AdamW neither updates them nor keeps state for them until they are unfrozen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from torch import nn
from transformers import TrainerCallback

from .. import architectures as arch
from ..errors import OptionError, PeftkitError
from ..launch import fsdp_launched, launched_distributed
from ..options import StrategyOptions, option
from ..pooling import Pooling, apply_pooling, pooled_options, pooling_merge_blocker, pooling_option
from ..registry import register_strategy
from .base import Strategy, TrainDefaults, is_no_decay
from .optimizer import install_groups


@dataclass
class GradualOptions(StrategyOptions):
    unfreeze_every: float | None = option(
        None, "unfreeze one more group after this many epochs (or steps); default: spread over the first epoch")
    unit: Literal["epoch", "step"] = option("epoch", "what unfreeze_every counts")
    lr_decay: float = option(1 / 2.6, "learning-rate factor per group going down (ULMFiT: 1/2.6; 1 = same rate everywhere)")
    pooling: Pooling = pooling_option("head")

    def validate(self):
        self.positive("unfreeze_every")
        self.in_range("lr_decay", 0.0, 1.0, low_open=True)
        if self.unfreeze_every is None and self.unit == "step":
            raise OptionError("unit=step needs unfreeze_every, e.g. gradual:unit=step,unfreeze_every=100")


@register_strategy
class GradualStrategy(Strategy):
    name = "gradual"
    family = "selective"
    description = "Gradual unfreezing (ULMFiT): start with the head, unfreeze one group from the top at a time, lower layers at lower rates."
    merge_blocker = None
    defaults = TrainDefaults(
        8e-4, warmup=0.1,
        source="ULMFiT (Howard & Ruder, 2018): top-down unfreezing, each lower group at 1/2.6 of the rate above, "
               "short warm-up then linear decay (slanted triangular); 8e-4 for the top group (the decay puts the "
               "groups below at 3.1e-4, 1.2e-4, 4.6e-5...: all but the top two under full fine-tuning's 1e-4), "
               "chosen over 1e-4, 2e-4 and 4e-4 by `--search lr` on held-out SST-2 training data "
               "(benchmarks/results/search-sst2-round3; rounds 1 and 2: benchmarks/results/search-sst2 and "
               "search-sst2-round2 at commit 97d66d6)")
    Options = GradualOptions
    core = True

    # -- what trains when --------------------------------------------------------------------
    def depths(self, model: nn.Module) -> dict[str, int]:
        spec = arch.arch_for(model)
        n = len(arch.blocks(model))
        return {name: arch.layer_depth(spec, name, n) for name, _ in model.named_parameters()}

    def num_stages(self, model: nn.Module) -> int:
        return max(self.depths(model).values()) + 1

    def interval(self, model: nn.Module) -> float:
        """Epochs (or steps) between two unfreezings. ULMFiT unfreezes one group per epoch, which
        needs as many epochs as groups; by default peftkit keeps its order and spreads the
        unfreezing over the first epoch, so that a few-epoch budget trains every layer."""
        if self.options.unfreeze_every is not None:
            return self.options.unfreeze_every
        return 1.0 / max(self.num_stages(model) - 1, 1)

    def stage_at(self, model: nn.Module, *, epoch: float, global_step: int) -> int:
        counter = epoch if self.options.unit == "epoch" else global_step
        return int(math.floor(counter / self.interval(model) + 1e-6))

    def set_stage(self, model: nn.Module, stage: int) -> None:
        """Stage 0: head only; stage k: head and the k top-most groups."""
        depths = self.depths(model)
        for name, p in model.named_parameters():
            p.requires_grad_(depths[name] <= stage)
        model.peftkit_stage = stage

    def apply(self, model):
        # Under a distributed launcher, DDP registers only the parameters that require grad when it
        # wraps the model: everything stays trainable until training starts (the callback, or the
        # first on_train_step of a loop, then freezes what must wait).
        if not launched_distributed():
            self.set_stage(model, 0)
        apply_pooling(self, model)
        return self._mark(model)

    def at_peak(self, model: nn.Module) -> list[str]:
        self.set_stage(model, self.num_stages(model) - 1)
        return [f"{self.name}: estimated at its peak, once every layer is unfrozen"]

    def cannot_merge(self) -> str | None:
        return pooling_merge_blocker(self.options)

    def saved_options(self, model) -> dict:
        return pooled_options(self, model)

    def on_train_step(self, model, *, epoch: float, global_step: int) -> None:
        stage = self.stage_at(model, epoch=epoch, global_step=global_step)
        if stage != getattr(model, "peftkit_stage", None):
            self.set_stage(model, stage)

    # -- optimizer ---------------------------------------------------------------------------
    def lr_scale(self, depth: int) -> float:
        return self.options.lr_decay ** max(depth - 1, 0)  # head and top block share the base rate

    def parameter_groups(self, model, lr, weight_decay=0.0):
        """Every parameter (frozen ones too, so that they train once unfrozen), grouped by depth."""
        depths = self.depths(model)
        groups: dict[tuple[int, bool], dict] = {}
        for name, p in model.named_parameters():
            d, nd = depths[name], is_no_decay(name, p)
            g = groups.setdefault((d, nd), {"params": [], "lr": lr * self.lr_scale(d),
                                            "weight_decay": 0.0 if nd else weight_decay, "depth": d})
            g["params"].append(p)
        return [groups[k] for k in sorted(groups)]

    def install_in_optimizer(self, model, optimizer, lr_scheduler=None, weight_decay: float = 0.0) -> None:
        """Re-group an optimizer built by someone else (a Trainer) so that it holds every parameter."""
        install_groups(optimizer, lr_scheduler, lambda lr: self.parameter_groups(model, lr, weight_decay), self.name)

    def callbacks(self):
        return [GradualUnfreezingCallback(self)]


class GradualUnfreezingCallback(TrainerCallback):
    """Puts every parameter in the Trainer's optimizer, then unfreezes on schedule."""

    def __init__(self, strategy: GradualStrategy):
        self.strategy = strategy

    def on_train_begin(self, args, state, control, model=None, optimizer=None, lr_scheduler=None, **kwargs):
        if fsdp_launched():
            raise PeftkitError("gradual unfreezing does not run under FSDP: FSDP fixes which parameters train when "
                               "it shards the model; use DDP (accelerate launch --multi_gpu) or another strategy")
        if args.world_size > 1 and args.ddp_find_unused_parameters is False:
            raise PeftkitError("gradual unfreezing under DDP needs ddp_find_unused_parameters=True (the default): "
                               "frozen layers have no gradient until they are unfrozen")
        self.strategy.install_in_optimizer(model, optimizer, lr_scheduler, weight_decay=args.weight_decay)
        self.strategy.on_train_step(model, epoch=state.epoch or 0, global_step=state.global_step)

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        self.strategy.on_train_step(model, epoch=state.epoch or 0, global_step=state.global_step)
