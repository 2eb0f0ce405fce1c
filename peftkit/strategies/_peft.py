"""Shared plumbing for strategies backed by peft: task type, head saving, clear errors."""

from __future__ import annotations

import contextlib
import warnings

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
        with quiet():
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


# Deprecation warnings that peft's own code raises inside transformers on current releases: the user
# cannot act on them, so peftkit's calls into peft hide them (and only them; the user's code still sees them).
UPSTREAM_DEPRECATIONS = (
    r"`is_gradient_checkpointing` is deprecated",  # peft 0.21 reads it; transformers 5.24 renamed it
)


@contextlib.contextmanager
def quiet():
    with warnings.catch_warnings():
        for message in UPSTREAM_DEPRECATIONS:
            warnings.filterwarnings("ignore", message=message, category=FutureWarning)
            warnings.filterwarnings("ignore", message=message, category=DeprecationWarning)
        yield
