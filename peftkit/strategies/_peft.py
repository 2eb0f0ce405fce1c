"""Shared plumbing for strategies backed by peft: task type, head saving, clear errors, and the base
class whose artifacts are peft adapter directories (``PeftModel.from_pretrained`` loads them)."""

from __future__ import annotations

import contextlib
import warnings

import peft
from torch import nn

from pathlib import Path

from .. import architectures as arch
from ..errors import OptionError
from .base import Strategy


def is_peft_model(model: nn.Module) -> bool:
    return isinstance(model, peft.PeftModel)


class PeftStrategy(Strategy):
    """A strategy that wraps the model with peft: saved as a peft adapter, merged by peft."""

    peft_backed = True

    def check_peft_artifact(self, model: nn.Module) -> None:
        """Raise ``UnsupportedError`` if a peft adapter saved by this strategy cannot run on ``model``
        with the installed packages (checked before loading it)."""

    def save_weights(self, model: nn.Module, directory: Path) -> str:
        if not is_peft_model(model):  # a route that does not go through peft (prefix's native one)
            return super().save_weights(model, directory)
        model.save_pretrained(directory)
        return "peft"

    def load_weights(self, model: nn.Module, directory: Path, fmt: str) -> nn.Module:
        if fmt != "peft":
            return super().load_weights(model, directory, fmt)
        self.check_peft_artifact(model)
        with quiet():
            model = peft.PeftModel.from_pretrained(model, directory)
        return self._mark(model)

    def merged(self, model: nn.Module) -> nn.Module:
        return model.merge_and_unload() if is_peft_model(model) else super().merged(model)


def wrap(strategy, model: nn.Module, config: peft.PeftConfig) -> nn.Module:
    """``peft.get_peft_model`` with the task head trained and saved (``modules_to_save``)."""
    from ..tasks import task_of

    spec, task = arch.arch_for(model), task_of(model)
    config.task_type = peft.TaskType(task.peft_task_type)
    config.modules_to_save = list(task.head(model))
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
    return [n for n, m in first.named_modules() if n and arch.is_projection(m)]


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
