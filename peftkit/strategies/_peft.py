"""Shared plumbing for strategies backed by peft: task type, head saving, clear errors, and the base
class whose artifacts are peft adapter directories (``PeftModel.from_pretrained`` loads them)."""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from typing import ClassVar

import peft
from peft.utils import ModulesToSaveWrapper
from torch import nn

from pathlib import Path

from .. import architectures as arch
from ..errors import OptionError
from ..options import StrategyOptions, option
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
        if not is_peft_model(model):
            return super().merged(model)
        plain = model.merge_and_unload()
        # some tuners (LN tuning in peft 0.21) leave the trained head in its ModulesToSaveWrapper: put it back
        for name, module in list(plain.named_modules()):
            if isinstance(module, ModulesToSaveWrapper):
                parent, _, child = name.rpartition(".")
                setattr(plain.get_submodule(parent), child, module.modules_to_save[module.active_adapters[0]])
        return plain


ALL_LINEAR = "all-linear"  # target_modules: every projection of every block, never the task head
TARGETS_HELP = ("module names to adapt (suffix match, e.g. query+value), or all-linear: every projection of every "
                "block, never the task head; default: the architecture's attention query and value projections")


def check_targets(options: StrategyOptions) -> None:
    """``validate`` of options with ``target_modules``: all-linear stands alone."""
    if options.target_modules and ALL_LINEAR in options.target_modules:
        options._require(options.target_modules == (ALL_LINEAR,), "target_modules", f"{ALL_LINEAR} alone")


def targets(target_modules: tuple[str, ...] | None, spec: arch.ArchSpec) -> list[str] | str:
    """peft's ``target_modules`` for a model of family ``spec``: those given, every block projection for
    all-linear (peftkit's own: peft's "all-linear" may wrap the head, peft#2027), else query and value."""
    if target_modules == (ALL_LINEAR,):
        return spec.projections_regex()
    return list(target_modules) if target_modules else spec.roles_regex("query", "value")


@dataclass
class TargetOptions(StrategyOptions):
    """Options of a method that adapts chosen projections (``target_modules``)."""

    target_modules: tuple[str, ...] | None = option(None, TARGETS_HELP)

    def validate(self):
        check_targets(self)


class TunerStrategy(PeftStrategy):
    """A peft tuner on the projections of every block: ``peft_config(spec, model)`` says which, and how.
    ``linear_only``: peft implements the method for ``nn.Linear`` only, so families whose projections are
    transformers' Conv1D (GPT-2) are refused, clearly, before peft is called."""

    linear_only: ClassVar[bool] = False

    def peft_config(self, spec: arch.ArchSpec, model: nn.Module) -> peft.PeftConfig:
        """The peft config of this strategy's options for ``model``, of family ``spec``."""
        raise NotImplementedError

    def apply(self, model: nn.Module) -> nn.Module:
        spec = arch.arch_for(model)
        if self.linear_only and spec.conv1d:
            raise arch.unsupported(self.name, model, f"peft implements {self.name} for torch Linear layers only, and "
                                   f"{spec.name} stores its projections as Conv1D; use lora, vera or fourierft")
        try:
            return wrap(self, model, self.peft_config(spec, model))
        except ValueError as e:  # peft checks a config's values when it is made and when it meets the layers
            raise OptionError(f"strategy '{self.name}': {str(e).splitlines()[0]}") from None


def target_sizes(config: peft.PeftConfig, model: nn.Module) -> list[tuple[str, int]]:
    """(name, weights) of each projection of ``model`` that ``config``'s ``target_modules`` selects."""
    from peft.tuners.tuners_utils import check_target_module_exists

    return [(name, module.weight.numel()) for name, module in model.named_modules()
            if "." in name and arch.is_projection(module) and check_target_module_exists(config, name)]


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
