"""The settings of a run, each declared once: ``RunConfig``.

Every field of ``RunConfig`` is declared below with ``setting(...)``: its default, its help, its group
(``GROUPS``: model, data, hyperparameters, runtime), its check, and where it can be set. From these
declarations come the command line's run options (``cli.run_options``), the recipe keys
(``recipes.SCHEMA``), the hyperparameters one strategy of a comparison may override
(``HYPERPARAMETERS``, ``recipes.STRATEGY_KEYS``, ``--hp``) and the settings every run of a comparison
shares (``SHARED_KEYS``, ``comparison.json``).

A run's identity (its run id, and what ``comparison.json`` holds) is its resolved settings, through
``identity()``. A setting added after results were first stored (``late=True``) is left out of the
identity while at its default, so that the runs stored before it still resume.

``train_examples`` is not chosen but found: `compare` and the training set it once the data is loaded, and
the default epochs follow it (each strategy's steps rule, ``TrainDefaults.epochs_for``). It is never in the
identity; the epochs it gives are, so that a run on the full data keeps its run id and one on 1,000
examples is named by the epochs it trains.

``holdout`` (score on a stratified 10% of the training data held out, never on the evaluation split:
``compare --search lr`` scores its candidates so) was spelled ``eval_split="train-holdout"`` until it
became a field. That spelling is still read, from ``--eval-split``, recipes and stored records, and it
is what the identity says, so held-out runs keep their run ids.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import Any, Callable

from .errors import OptionError
from .tasks import DEFAULT_TASK, TASKS

GROUPS = ("model", "data", "hyperparameters", "runtime")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
HOLDOUT_SPLIT = "train-holdout"  # how `holdout=True` was written before it was a field; still accepted


def resolve_precision(precision: str, device: str = "auto") -> str:
    """"fp32", "bf16" or "fp16": what a run in ``precision`` trains in on ``device`` ("auto": here).
    auto is bf16 on a GPU that supports it, fp16 on another, fp32 on CPU; for "cuda" on a machine
    without one (estimating for a GPU elsewhere) it assumes a current GPU: bf16."""
    if precision not in PRECISIONS:
        raise OptionError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device != "cuda":
        return "fp32"
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16"


# -- declaring a setting ------------------------------------------------------------------------------

def positive(value) -> str | None:
    return None if value > 0 else "must be positive"


def fraction(value) -> str | None:
    return None if 0 <= value < 1 else "must be in [0, 1)"


def non_negative(value) -> str | None:
    return None if value >= 0 else "must be 0 or more"


def setting(default: Any = MISSING, help: str = "", *, group: str, check: Callable[[Any], str | None] | None = None,
            choices: tuple[str, ...] = (), cli: bool = True, recipe: bool | str = True, per_strategy: bool = False,
            shared: bool = False, late: bool = False, derived: bool = False, show_default: bool = False):
    """A field of RunConfig with its declaration.

    ``cli``: a run option of `compare` and `train` (``--name-with-dashes``); ``recipe``: a recipe key
    (a string describes its values in the recipe's type errors); ``per_strategy``: one strategy of a
    comparison may set its own (``--hp``, a recipe's strategy entry); ``shared``: every run of a
    comparison has the same (``comparison.json``); ``late``: added after results were first stored,
    left out of the identity at its default; ``derived``: not chosen but found from the data (set by
    `compare` and the training once the data is loaded), never in the identity, where what it decides
    (the epochs) is; ``show_default``: the option shows and carries its default (otherwise an option not
    given is None, and a recipe or profile may set the value)."""
    assert group in GROUPS, group
    meta = dict(help=help, group=group, check=check, choices=choices, cli=cli, recipe=recipe,
                per_strategy=per_strategy, shared=shared, late=late, derived=derived, show_default=show_default)
    return field(default=default, metadata={"setting": meta})


@dataclass(frozen=True)
class Setting:
    """One declared setting, as the command line, recipes and comparisons read it."""

    name: str
    type: type  # int, float, str or bool (None is allowed when the default is None)
    default: Any
    help: str
    group: str
    check: Callable[[Any], str | None] | None
    choices: tuple[str, ...]
    cli: bool
    recipe: bool | str
    per_strategy: bool
    shared: bool
    late: bool
    derived: bool
    show_default: bool

    @property
    def label(self) -> str:
        """How options and messages name it: learning-rate."""
        return self.name.replace("_", "-")

    @property
    def option(self) -> str:
        return "--" + self.label

    def recipe_schema(self) -> tuple[tuple[type, ...], str]:
        """(the Python types a recipe may give, what the type error says it must be)."""
        if self.type is float:
            types_, what = (int, float), "number"
        elif self.type is bool:
            types_, what = (bool,), "true or false"
        elif self.type is int:
            types_, what = (int,), "int"
        else:
            types_, what = (str,), ", ".join(self.choices[:-1]) + " or " + self.choices[-1] if self.choices else "text"
        return types_, self.recipe if isinstance(self.recipe, str) else what

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is refused, as the one line a user sees, or None."""
        if self.choices and value not in self.choices and not (value is None and self.default is None):
            return f"{self.label} must be one of {', '.join(self.choices)}, got {value!r}"
        reason = self.check(value) if self.check and value is not None else None
        return f"{self.label} {reason}, got {value}" if reason else None


# -- the settings of a run ----------------------------------------------------------------------------

@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one run. Hyperparameters left at None take the strategy's defaults."""

    model: str = setting(group="model", cli=False, recipe=False, shared=True)
    dataset: str = setting(group="data", cli=False, recipe=False, shared=True)
    strategy: str = setting(help="a SPEC", group="model", cli=False, recipe=False)
    seed: int = setting(0, group="hyperparameters", cli=False, recipe=False)
    epochs: float | None = setting(None, "Epochs (default: each strategy's own, more on small data by its steps rule: "
                                   "peftkit list).", group="hyperparameters",
                                   check=positive, per_strategy=True)
    learning_rate: float | None = setting(None, "Learning rate (default: each strategy's own).",
                                          group="hyperparameters", check=positive, per_strategy=True)
    warmup: float | None = setting(None, "Warm-up as a fraction of training steps.", group="hyperparameters",
                                   check=fraction, per_strategy=True, recipe="fraction of steps")
    weight_decay: float | None = setting(None, group="hyperparameters", check=non_negative, per_strategy=True)
    batch_size: int = setting(16, group="hyperparameters", check=positive, per_strategy=True, show_default=True)
    max_length: int = setting(128, group="data", check=positive, shared=True, show_default=True)
    max_train_samples: int | None = setting(None, group="data", check=positive, shared=True)
    max_eval_samples: int | None = setting(None, group="data", check=positive, shared=True)
    text_column: str | None = setting(None, group="data", shared=True, recipe="column name")
    text_pair_column: str | None = setting(None, group="data", shared=True, recipe="column name")
    label_column: str | None = setting(None, group="data", shared=True, recipe="column name")
    eval_split: str | None = setting(None, "Split to evaluate on (default: validation, else test, else held out).",
                                     group="data", shared=True, recipe="split name")
    precision: str = setting("auto", group="runtime", choices=PRECISIONS, shared=True, show_default=True)
    trust_remote_code: bool = setting(False, "Allow custom model code from the hub (off by default).", group="model",
                                      shared=True, recipe=False)  # a recipe is data someone handed over
    # added later: left out of the run id while at their defaults, so that earlier results still resume
    gradient_checkpointing: bool = setting(
        False, "Recompute activations in backward: less memory, ~30% more time; what trains is unchanged.",
        group="runtime", late=True)
    gradient_accumulation_steps: int = setting(1, "Optimizer step every N batches (default 1).", group="runtime",
                                               check=positive, late=True)
    drop_invalid_rows: bool = setting(  # drop rows with an empty text or a missing label instead of refusing the data
        False, "Drop rows with an empty text or a missing label (a note counts them) instead of refusing the data.",
        group="data", shared=True, late=True)
    holdout: bool = setting(  # on the command line and in recipes: --eval-split train-holdout
        False, "Score on a stratified 10% of the training data held out (the other 90% trains), never on the "
        "evaluation split.", group="data", cli=False, recipe=False, shared=True, late=True)
    task: str | None = setting(None, "What the model predicts (peftkit/tasks/); default: what the data's format says.",
                               group="model", choices=tuple(TASKS), shared=True, late=True)
    subword_labels: str = setting(
        "first", "Token classification: label the first sub-token of each word (first, as transformers' example "
        "does; the others are ignored) or all of them.", group="data", choices=("first", "all"), shared=True,
        late=True)
    # found from the data, not chosen: what the epochs rule of the strategy's defaults counts steps from
    train_examples: int | None = setting(None, group="data", check=positive, cli=False, recipe=False, derived=True)

    def __post_init__(self):
        if self.eval_split == HOLDOUT_SPLIT:  # the old spelling: --eval-split train-holdout, a recipe, a stored record
            object.__setattr__(self, "eval_split", None)
            object.__setattr__(self, "holdout", True)
        for f in fields(self):  # inf passes "positive", nan fails every comparison: refuse both, by name
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise OptionError(f"{f.name.replace('_', '-')} must be a finite number, got {value}")
        for s in SETTINGS:
            problem = s.problem(getattr(self, s.name))
            if problem:
                raise OptionError(problem)

    def with_task(self) -> "RunConfig":
        """This config with its task named: the one given, or what the dataset's format says."""
        from .tasks import infer_task

        return self if self.task else replace(self, task=infer_task(self.dataset))

    def resolved(self) -> "RunConfig":
        """This config with the strategy's default hyperparameters (for its task) filled in; the default
        epochs follow the defaults' steps rule once ``train_examples`` is known (``TrainDefaults.epochs_for``)."""
        defaults = self.defaults()
        filled = {s.name: getattr(defaults, s.name) for s in SETTINGS
                  if getattr(self, s.name) is None and hasattr(defaults, s.name)}
        if self.epochs is None:
            filled["epochs"] = defaults.epochs_for(self.steps_per_epoch())
        return replace(self, **filled)

    def defaults(self):
        """The training defaults of this run's strategy for its task (``Strategy.defaults_for``)."""
        from .registry import strategy_from_spec

        return strategy_from_spec(self.strategy).defaults_for(self.task)

    def steps_per_epoch(self) -> int | None:
        """Optimizer steps an epoch of ``train_examples`` takes in one process (None: not known yet)."""
        if self.train_examples is None:
            return None
        return math.ceil(math.ceil(self.train_examples / self.batch_size) / self.gradient_accumulation_steps)

    def too_few_steps(self) -> str | None:
        """One line if this run takes fewer optimizer steps than its defaults assume (the steps rule's
        ``min_steps``): epochs the user set, or the rule's cap on very small data; None otherwise. The same
        line from the plan and from the stored (resolved) config."""
        defaults, steps, epochs = self.defaults(), self.optimizer_steps(), self.resolved().epochs
        if steps is None or steps >= defaults.min_steps:
            return None
        why = f" ({epochs:g} epochs, its most)" if epochs >= defaults.max_epochs else ""
        return (f"{self.strategy}: {steps} optimizer steps{why}, its defaults assume at least {defaults.min_steps}; "
                "results may under-state it; see `--search lr,epochs`")

    def optimizer_steps(self) -> int | None:
        """Optimizer steps of the whole run in one process, as the Trainer counts them (None: not known yet)."""
        per_epoch, epochs = self.steps_per_epoch(), self.resolved().epochs
        return None if per_epoch is None else math.ceil(per_epoch * epochs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def grouped(self) -> dict[str, dict[str, Any]]:
        """The settings by group: {"model": {...}, "data": {...}, "hyperparameters": {...}, "runtime": {...}}."""
        return {group: {s.name: getattr(self, s.name) for s in SETTINGS if s.group == group} for group in GROUPS}

    def identity(self) -> dict[str, Any]:
        """What names the run: the resolved settings, in the form the stored runs were named with."""
        return identity(self)

    def run_id(self) -> str:
        """Stable name of the run: strategy, seed and a hash of the resolved config."""
        digest = hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:10]
        slug = re.sub(r"[^A-Za-z0-9]+", "-", self.strategy).strip("-")
        return f"{slug}__seed{self.seed}__{digest}"


def identity(config: RunConfig) -> dict[str, Any]:
    """The resolved settings of ``config`` that name it (run id, comparison.json): late settings at their
    defaults are left out, so that runs stored before a setting existed keep their names."""
    settings = config.resolved().to_dict()
    # The one place the old spelling comes back: held-out runs were stored (and named) with eval_split
    # "train-holdout" and no holdout key; saying the same keeps their run ids and comparison.json.
    if settings.pop("holdout"):
        settings["eval_split"] = HOLDOUT_SPLIT
    if settings["task"] == DEFAULT_TASK:  # the default task, named or inferred, is left out as before tasks
        settings["task"] = None
    return {k: v for k, v in settings.items() if not (k in LATE and v == LATE[k]) and k not in DERIVED}


def _declared(cls) -> tuple[Setting, ...]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        hint = hints[f.name]
        if isinstance(hint, types.UnionType):  # float | None
            hint = next(t for t in typing.get_args(hint) if t is not type(None))
        out.append(Setting(name=f.name, type=hint, default=f.default, **f.metadata["setting"]))
    return tuple(out)


SETTINGS: tuple[Setting, ...] = _declared(RunConfig)
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
LATE: dict[str, Any] = {s.name: s.default for s in SETTINGS if s.late}
DERIVED: frozenset[str] = frozenset(s.name for s in SETTINGS if s.derived)
COMMAND_LINE: tuple[Setting, ...] = tuple(s for s in SETTINGS if s.cli)  # `compare` and `train` run options
RECIPE: tuple[Setting, ...] = tuple(s for s in SETTINGS if s.recipe)
# what one strategy of a comparison may set for itself; the rate first, as --hp has always listed them
HYPERPARAMETERS: tuple[str, ...] = tuple(sorted((s.name for s in SETTINGS if s.per_strategy),
                                                key=lambda name: name != "learning_rate"))
# the same for every run of a comparison; an output directory holds one such setting only
SHARED_KEYS: tuple[str, ...] = tuple(s.name for s in SETTINGS if s.shared)


def names(group: str) -> tuple[str, ...]:
    """The settings of one group, in declaration order."""
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}; groups: {', '.join(GROUPS)}")
    return tuple(s.name for s in SETTINGS if s.group == group)

