"""``peft``: any peft config as a strategy, for the methods peftkit has not wrapped.

    -s peft:config=path/adapter_config.json     a config file, as peft's save_pretrained writes it
    -s peft:method=LOHA,r=4                      a peft method by name, with its config's fields
    -s peft                                      peft's LoraConfig at its own defaults

A config without ``target_modules`` adapts the attention query and value projections, as peftkit's own
strategies do (peft's per-model table does not know every family).

The model is wrapped by ``peft.get_peft_model`` with the task head trained and saved (``modules_to_save``),
so a run is counted, compared, saved (a peft adapter directory) and loaded like the wrapped strategies.
What peftkit knows of the method is only what peft's config says: the rate is a generic one (set it, or
``--search lr``), and a method that does not fit the task is refused before training.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import peft
from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING

from ..errors import OptionError
from ..options import StrategyOptions, option
from ..registry import register_strategy
from . import _peft
from .lora import lora_rate


def _method(name: str) -> peft.PeftType:
    try:
        return peft.PeftType[name.upper()]
    except KeyError:
        raise OptionError(f"unknown peft method '{name}'; peft {peft.__version__} has "
                          f"{', '.join(t.value for t in PEFT_TYPE_TO_CONFIG_MAPPING)}") from None


def _read_config(path: str) -> dict[str, Any]:
    file = Path(path).expanduser()
    file = file / "adapter_config.json" if file.is_dir() else file
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OptionError(f"peft config {file} does not exist; give the adapter_config.json that peft's "
                          "save_pretrained writes, or its directory") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise OptionError(f"peft config {file} is not JSON ({e}); give the adapter_config.json that peft's "
                          "save_pretrained writes") from None
    if not isinstance(data, dict) or "peft_type" not in data:
        raise OptionError(f"peft config {file} has no 'peft_type': it is not a peft adapter config")
    return data


def _coerce(value: Any, default: Any) -> Any:
    """A SPEC's string value as the type of the peft field's default (lists with '+', like peftkit's own)."""
    if not isinstance(value, str):
        return value
    if isinstance(default, bool):
        if value.lower() not in ("true", "false"):
            raise ValueError(f"{value!r} is not true or false")
        return value.lower() == "true"
    for kind in (int, float):
        if isinstance(default, kind):
            return kind(value)
    if "+" in value or isinstance(default, list):
        return [v for v in value.split("+") if v]
    return value


@dataclass
class PeftOptions(StrategyOptions):
    config: str | None = option(None, "a peft adapter_config.json (or its directory)")
    method: str | None = option(None, "a peft method by name (LOHA, LOKR, ...; default LORA); other keys are its "
                                "config's fields")
    settings: str | None = option(None, "the config's fields given with method, as JSON (other SPEC keys land here)")

    @classmethod
    def build(cls, strategy: str, **values: Any) -> "PeftOptions":
        own = {k: values.pop(k) for k in ("config", "method", "settings") if k in values}
        fields = {**json.loads(own.pop("settings", None) or "{}"), **values}
        try:
            return cls(**own, settings=json.dumps(dict(sorted(fields.items()))) if fields else None)
        except OptionError as e:
            raise OptionError(f"strategy '{strategy}': {e}") from None

    def fields(self) -> dict[str, Any]:
        return json.loads(self.settings or "{}")

    def validate(self):
        if self.config is not None and self.method is not None:
            raise OptionError("give config=PATH (a peft adapter_config.json) or method=NAME (e.g. peft:method=LOHA,r=4), "
                              "not both")
        if self.config is not None and self.settings:
            raise OptionError(f"config=... takes its fields from the file; '{next(iter(self.fields()))}' would be ignored")
        self.peft_config()  # every error now, before anything trains

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config, "method": self.method, **self.fields()}

    def peft_config(self) -> peft.PeftConfig:
        data = _read_config(self.config) if self.config else {"peft_type": _method(self.method or "LORA").value}
        cls = PEFT_TYPE_TO_CONFIG_MAPPING[_method(data["peft_type"])]
        if cls is peft.AdaLoraConfig:  # untrained by its schedule it would run as a fixed-rank LoRA, silently
            raise OptionError("peft's ADALORA needs its rank budget schedule run after every optimizer step, over the "
                              "run's step count, which a bare peft config does not know: use -s adalora")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = [k for k in self.fields() if k not in fields]
        if unknown:
            raise OptionError(f"{cls.__name__} has no field '{unknown[0]}'; its fields: "
                              f"{', '.join(n for n in fields if not n.startswith('_'))}")
        try:
            given = {k: _coerce(v, fields[k].default) for k, v in self.fields().items()}
            return cls(**{k: v for k, v in data.items() if k in fields}, **given)
        except (TypeError, ValueError) as e:
            raise OptionError(f"{cls.__name__}: {str(e).splitlines()[0]}") from None


@register_strategy
class AnyPeftStrategy(_peft.TunerStrategy):
    name = "peft"
    family = "other"
    description = "Any peft method, from its adapter_config.json (peft:config=PATH) or by name (peft:method=LOHA,r=4)."
    merge_blocker = None
    defaults = lora_rate("an arbitrary peft method")
    Options = PeftOptions

    def cannot_merge(self) -> str | None:
        if isinstance(self.options.peft_config(), peft.PromptLearningConfig):
            return "a prompt-learning method adds virtual tokens, not a change of weights"
        return None

    def refuses_task(self, task) -> str | None:
        config, wanted = self.options.peft_config(), peft.TaskType(task.peft_task_type)
        if config.task_type is not None and peft.TaskType(config.task_type) != wanted:
            return (f"the peft config is for task type {peft.TaskType(config.task_type).value}, this run is "
                    f"{task.name} ({wanted.value}): remove task_type from it, or make one for {wanted.value}")
        if isinstance(config, peft.PromptLearningConfig) and task.per_token:
            return (f"peft's {config.peft_type.value} shifts the token positions, so {task.name} labels would not "
                    "line up: use peftkit's prompt, ptuning or prefix, which align them")
        return None

    def peft_config(self, spec, model):
        from ..tasks import task_of

        config, refusal = self.options.peft_config(), self.refuses_task(task_of(model))
        if refusal:
            raise OptionError(f"strategy '{self.name}': {refusal}")
        if getattr(config, "target_modules", False) is None:  # peftkit's targets, not peft's per-model table
            config.target_modules = spec.roles_regex("query", "value")
            if hasattr(config, "fan_in_fan_out"):
                config.fan_in_fan_out = spec.fan_in_fan_out
        return config

    def spec(self) -> str:
        given = {k: v for k, v in self.options.to_dict().items() if v is not None}
        if not given:
            return self.name
        return self.name + ":" + ",".join(f"{k}={'+'.join(map(str, v)) if isinstance(v, list) else v}"
                                          for k, v in given.items())

    def saved_options(self, model) -> dict[str, Any]:
        # the artifact's adapter_config.json holds the whole config; the path may not exist where it is loaded
        return {"method": self.options.peft_config().peft_type.value}
