"""The strategy contract: ``get_strategy(name, **options).apply(model)``."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping

from torch import nn

from .. import architectures as arch
from ..options import NoOptions, StrategyOptions


@dataclass(frozen=True)
class TrainDefaults:
    """A strategy's default training hyperparameters, with where they come from.

    Rates differ by orders of magnitude between strategies (full ~1e-4, LoRA ~1e-3, prompt tuning
    ~3e-2): a comparison with one shared rate is not fair, so `compare` uses these unless told otherwise.

    A rate is tuned for a number of optimizer steps, and three epochs of a small dataset are few steps:
    the steps rule (``min_steps``, ``max_epochs``, ``epochs_for``) gives a run on small data more epochs,
    so that the defaults hold from a few hundred examples to the full set. Epochs given by hand are kept.
    """

    learning_rate: float
    epochs: float = 3.0
    warmup: float = 0.06  # fraction of the training steps (RoBERTa and LoRA papers: 6%)
    weight_decay: float = 0.01
    source: str = ""
    # The steps rule: the rate was chosen for a number of optimizer steps, not of epochs. On data too small
    # for ``epochs`` to give ``min_steps`` steps, a run takes more epochs (whole ones), up to ``max_epochs``.
    min_steps: int = 0  # 0: no rule, ``epochs`` at every size
    max_epochs: float = 20.0
    steps_source: str = ""  # the measurements the rule comes from

    def __post_init__(self):
        if self.min_steps < 0 or self.max_epochs < self.epochs:
            raise ValueError(f"min_steps must be 0 or more and max_epochs at least epochs, got {self}")

    def epochs_for(self, steps_per_epoch: int | None) -> float:
        """The epochs of a run with ``steps_per_epoch`` optimizer steps an epoch (None: not known, ``epochs``):
        ``epochs``, or the fewest whole epochs that give ``min_steps`` steps, but at most ``max_epochs``."""
        if not self.min_steps or not steps_per_epoch or self.epochs * steps_per_epoch >= self.min_steps:
            return self.epochs
        return float(min(self.max_epochs, math.ceil(self.min_steps / steps_per_epoch)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def steps_rule(evidence: str, min_steps: int = 1200, max_epochs: float = 20.0) -> dict[str, Any]:
    """The steps rule of a strategy's ``TrainDefaults`` (``TrainDefaults(lr, ..., **steps_rule("..."))``): the
    rates were chosen at about 1,300 optimizer steps (3 epochs of SST-2's 6,920 sentences), so by default a run
    keeps at least 1,200, up to 20 epochs; ``evidence``: the strategy's own measurements on small data, which
    may ask for other numbers."""
    rule = (f"at least {min_steps:,} optimizer steps, up to {max_epochs:g} epochs (the rates were chosen at about "
            f"1,300: 3 epochs of SST-2's 6,920 sentences); ")
    return {"min_steps": min_steps, "max_epochs": max_epochs, "steps_source": rule + evidence}


def carried_over_rule(method: str) -> dict[str, Any]:
    """``steps_rule`` for a method not yet measured on small data, which like lora and adapters trains a few
    parameters on a frozen model."""
    return steps_rule(f"not measured on small data: carried over from lora and adapter (benchmarks/results/"
                      f"grid-sst2-500 and -1000), which like {method} train a few parameters on a frozen model "
                      "and gain 5 to 9 points from 3 to 20 epochs of 500 examples")


# The groups of the PEFT surveys (Lialin et al., 2023, "Scaling Down to Scale Up"; Han et al., 2024), by what
# a method trains; `peftkit list` groups the strategies so and `compare -s family:NAME` runs one group.
FAMILIES: dict[str, str] = {
    "full": "every weight of the model trains (the baseline the others are measured against)",
    "selective": "a chosen subset of the pretrained weights trains, nothing is added",
    "additive": "new modules or vectors are added and train, the model stays frozen",
    "reparametrised": "a low-dimensional update of the pretrained weights trains, and can be folded into them",
    "other": "any peft method by its config (peft), and strategies registered without a family",
}


@dataclass(frozen=True)
class VirtualTokens:
    """What a strategy adds to the sequence: ``prompt`` tokens before every input (they take positions and
    lengthen every sequence), ``prefix`` keys and values in every attention layer (they lengthen the keys)."""

    prompt: int = 0
    prefix: int = 0


class Strategy:
    """A fine-tuning strategy. Subclasses set ``name``, ``description``, ``family``, ``Options`` and ``apply``, and
    override the hooks below where their default is wrong for them. Core modules (training, the estimate,
    artifacts) call only these methods: they never look at a strategy's name or probe for attributes.

    - ``defaults_for(task)``: the training defaults a run of that task starts from (``defaults``, or the
      task's own in ``task_defaults``).
    - ``apply(model)`` returns the model ready to train: what should train has ``requires_grad``,
      the rest is frozen, and any new modules are inserted (or the model is wrapped by peft). It never
      changes ``self.options``; what it resolved for this model is in ``saved_options(model)``.
    - ``from_pretrained_kwargs(config)``: what the model loader must pass to ``from_pretrained`` (qlora: 4-bit).
    - ``uses_feature_cache()``: whether training may serve the frozen body's features from a cache (head).
    - ``callbacks()`` returns ``transformers.TrainerCallback`` objects the Trainer needs.
    - ``parameter_groups(model, lr, weight_decay)`` gives a hand-written loop its optimizer groups.
    - ``on_train_step(model, epoch=..., global_step=...)`` is the loop hook for schedules that change
      what trains (gradual unfreezing); a no-op for most strategies.
    - ``on_train_begin(model, total_steps=...)``: the loop hook before the first step, with the run's
      optimizer steps (adalora fits its rank budget schedule to them); a no-op for most strategies.
    - ``on_optimizer_step(model, global_step=...)``: the loop hook after each optimizer step, before the
      gradients are cleared (adalora's rank budget); a no-op for most strategies.
    - ``virtual_tokens()`` and ``at_peak(model)``: what the memory estimate must know.
    - ``cannot_merge()`` and ``merged(model)``: whether and how it folds into a plain model.
    - ``refuses_task(task)``: why it cannot train that task at all (checked before anything is written).
    - ``save_weights`` / ``load_weights``: how an artifact holds what it trained.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    Options: ClassVar[type[StrategyOptions]] = NoOptions
    core: ClassVar[bool] = False  # one of the strategies `compare` runs by default
    family: ClassVar[str] = "other"  # its group in FAMILIES
    peft_backed: ClassVar[bool] = False  # its artifacts are peft adapter directories (see strategies/_peft.py)
    defaults: ClassVar[TrainDefaults] = TrainDefaults(1e-4, source="generic")  # sequence classification's
    # a task's own defaults, by task name, where the evidence for that task says otherwise (defaults_for)
    task_defaults: ClassVar[Mapping[str, TrainDefaults]] = {}
    # why `peftkit merge` cannot fold this strategy into a plain transformers model (None: it can)
    merge_blocker: ClassVar[str | None] = "it adds modules that have no place in the base model"

    def __init__(self, options: StrategyOptions | None = None):
        self.options = options if options is not None else self.Options.build(self.name)

    @classmethod
    def from_options(cls, **options: Any) -> "Strategy":
        return cls(cls.Options.build(cls.name, **options))

    @classmethod
    def defaults_for(cls, task: str | None) -> TrainDefaults:
        """The training defaults of a run of task ``task`` (None: sequence classification): the task's own
        where the strategy has them, else ``defaults``."""
        return cls.task_defaults.get(task, cls.defaults)

    # -- the contract -----------------------------------------------------------------------
    def apply(self, model: nn.Module) -> nn.Module:
        raise NotImplementedError

    def callbacks(self) -> list:
        return []

    def parameter_groups(self, model: nn.Module, lr: float, weight_decay: float = 0.0) -> list[dict]:
        """Optimizer parameter groups: trainable parameters, no weight decay on biases and norms."""
        decay, no_decay = [], []
        for name, p in model.named_parameters():
            if p.requires_grad:
                (no_decay if is_no_decay(name, p) else decay).append(p)
        groups = [{"params": decay, "lr": lr, "weight_decay": weight_decay},
                  {"params": no_decay, "lr": lr, "weight_decay": 0.0}]
        return [g for g in groups if g["params"]]

    def on_train_step(self, model: nn.Module, *, epoch: float, global_step: int) -> None:
        """Called by a loop before each optimizer step; Trainer users get this via callbacks()."""

    def on_train_begin(self, model: nn.Module, *, total_steps: int) -> None:
        """Called by a loop once before its first step with the run's optimizer steps; Trainer users get this via
        callbacks()."""

    def on_optimizer_step(self, model: nn.Module, *, global_step: int) -> None:
        """Called by a loop after each ``optimizer.step()``, before ``zero_grad()``; Trainer users get this via
        callbacks()."""

    def from_pretrained_kwargs(self, config: Any = None) -> dict[str, Any]:
        """Keyword arguments the model loader adds to ``from_pretrained`` (``config``: the model's config)."""
        return {}

    def uses_feature_cache(self) -> bool:
        """True if only the head trains on a body in eval mode, so that training may run the body once and
        train the head on cached features (``feature_cache.py``)."""
        return False

    # -- the memory estimate ------------------------------------------------------------------
    def virtual_tokens(self) -> VirtualTokens:
        return VirtualTokens()

    def at_peak(self, model: nn.Module) -> list[str]:
        """Put ``model`` (just applied, on the meta device) in the state in which training memory peaks, and
        return notes for the estimate (gradual: every layer unfrozen). Most strategies train the same set
        throughout: nothing to do."""
        return []

    # -- merging --------------------------------------------------------------------------------
    def cannot_merge(self) -> str | None:
        """Why ``peftkit merge`` cannot fold this strategy into a plain transformers model (None: it can)."""
        return self.merge_blocker

    def merged(self, model: nn.Module) -> nn.Module:
        """``model`` (trained, or loaded from an artifact) as a plain transformers model with the same logits."""
        return arch.unwrap(model)

    def refuses_task(self, task) -> str | None:
        """Why this strategy cannot train a model of ``task`` (a ``tasks.Task``), or None: checked when a run
        or a comparison is planned, before anything is written."""
        return None

    def unavailable_here(self) -> str | None:
        """Why this strategy cannot run on this machine at all (a missing GPU or package), or None.
        ``apply`` still refuses with ``UnsupportedError``; this lets reports say so once, not per model."""
        return None

    # -- artifacts --------------------------------------------------------------------------
    def saved_options(self, model: nn.Module) -> dict[str, Any]:
        """The options an artifact of ``model`` records: enough to rebuild it as it was made (a strategy
        that chose between ways of applying itself records the one it took)."""
        return self.options.to_dict()

    def save_weights(self, model: nn.Module, directory: Path) -> str:
        """Write what this strategy trained on ``model`` into ``directory``; return the format written
        (``artifacts.FORMATS``). Default: the trainable tensors in one safetensors file."""
        from ..artifacts import save_trained_tensors

        save_trained_tensors(model, directory)
        return "safetensors"

    def load_weights(self, model: nn.Module, directory: Path, fmt: str) -> nn.Module:
        """The base ``model`` with what ``save_weights`` wrote in ``directory`` (in format ``fmt``)."""
        from ..artifacts import load_trained_tensors

        return load_trained_tensors(self.apply(model), directory)

    # -- description ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "options": self.options.to_dict()}

    def spec(self) -> str:
        """The SPEC string that rebuilds this strategy (defaults left out)."""
        defaults = self.Options.build(self.name).to_dict()
        changed = {k: v for k, v in self.options.to_dict().items() if v != defaults[k]}
        if not changed:
            return self.name
        def fmt(v: Any) -> str:
            return "+".join(map(str, v)) if isinstance(v, list) else str(v)
        return self.name + ":" + ",".join(f"{k}={fmt(v)}" for k, v in changed.items())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec()}>"

    # -- helpers for subclasses -------------------------------------------------------------
    def _mark(self, model: nn.Module) -> nn.Module:
        """Remember on the model which strategy made it (for callbacks, save and reports)."""
        model.peftkit_strategy = self
        return model


def is_no_decay(name: str, p: nn.Parameter) -> bool:
    lname = name.lower()
    return p.ndim < 2 or "norm" in lname or lname.endswith(".bias")


def freeze(model: nn.Module) -> None:
    for p in model.parameters():
        p.requires_grad_(False)


def unfreeze_head(model: nn.Module) -> None:
    for _, p in arch.iter_head_parameters(model):
        p.requires_grad_(True)
