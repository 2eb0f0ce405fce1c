"""Shared plumbing for strategies backed by peft: task type, head saving, clear errors."""

from __future__ import annotations

import peft
from torch import nn

from .. import architectures as arch
from ..errors import OptionError


def wrap(strategy, model: nn.Module, config: peft.PeftConfig) -> nn.Module:
    """``peft.get_peft_model`` with the task head trained and saved (``modules_to_save``)."""
    spec = arch.arch_for(model)
    config.task_type = peft.TaskType.SEQ_CLS
    config.modules_to_save = list(spec.head)
    try:
        wrapped = peft.get_peft_model(model, config)
    except ValueError as e:
        message = str(e)
        if "not found in the base model" in message or "Target modules" in message:
            raise OptionError(
                f"strategy '{strategy.name}': {message.splitlines()[0]} "
                f"Modules in a {spec.name} block: {', '.join(block_module_names(model))}"
            ) from None
        raise
    return strategy._mark(wrapped)


def block_module_names(model: nn.Module) -> list[str]:
    """Names (relative to a block) of the Linear-like modules in the first block, for error messages."""
    first = arch.blocks(model)[0]
    return [n for n, m in first.named_modules() if n and (isinstance(m, nn.Linear) or hasattr(m, "nf"))]
