"""A strategy's own optimizer groups in an optimizer someone else built (a transformers Trainer).

A Trainer builds its optimizer from the trainable parameters, one rate for all. Strategies whose groups differ
(gradual unfreezing: a rate per depth, and parameters frozen at first; LoRA+: B at a multiple of A's rate) give
their groups through ``Strategy.parameter_groups``, which a hand-written loop passes to its optimizer, and their
callbacks put those groups into the Trainer's optimizer once training begins (``install_groups``).
"""

from __future__ import annotations

import warnings
from typing import Callable

from transformers import TrainerCallback


def install_groups(optimizer, lr_scheduler, groups_for: Callable[[float], list[dict]], who: str) -> None:
    """Replace ``optimizer``'s groups with ``groups_for(base_rate)``, the Trainer's rate as base, and make
    ``lr_scheduler`` (a LambdaLR, as the Trainer's schedules are) drive every new group from its own rate."""
    inner = getattr(optimizer, "optimizer", optimizer)  # accelerate wraps the torch optimizer
    first = inner.param_groups[0]
    base_lr = first.get("initial_lr", first["lr"])
    settings = {k: v for k, v in first.items() if k not in ("params", "lr", "weight_decay", "initial_lr")}
    inner.param_groups = []
    for group in groups_for(base_lr):
        inner.add_param_group({**settings, **group, "initial_lr": group["lr"]})
    scheduler = getattr(lr_scheduler, "scheduler", lr_scheduler)
    if scheduler is None:
        return
    lambdas = getattr(scheduler, "lr_lambdas", None)
    if lambdas is None:
        warnings.warn(f"{who}: cannot apply its own learning rates with {type(scheduler).__name__}; "
                      "all groups follow its schedule from the base rate")
        return
    scheduler.lr_lambdas = [lambdas[0]] * len(inner.param_groups)
    scheduler.base_lrs = [g["initial_lr"] for g in inner.param_groups]
    factor = lambdas[0](scheduler.last_epoch)
    for g in inner.param_groups:
        g["lr"] = g["initial_lr"] * factor
    scheduler._last_lr = [g["lr"] for g in inner.param_groups]


class ParameterGroupsCallback(TrainerCallback):
    """Puts ``strategy.parameter_groups`` into the Trainer's optimizer when training begins."""

    def __init__(self, strategy):
        self.strategy = strategy

    def on_train_begin(self, args, state, control, model=None, optimizer=None, lr_scheduler=None, **kwargs):
        install_groups(optimizer, lr_scheduler,
                       lambda lr: self.strategy.parameter_groups(model, lr, args.weight_decay), self.strategy.name)
