"""Exact parameter accounting: trainable, total, and a breakdown into head / base / added."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from . import architectures as arch

GROUPS = ("head", "base", "added")


class AddedModule(nn.Module):
    """Base class for modules peftkit inserts (adapters, native prefixes): counted as 'added'."""


@dataclass
class ParameterCount:
    trainable: int
    total: int
    # group -> {"trainable": n, "total": n}; groups: head (task head), base (pretrained body),
    # added (what the strategy inserted: LoRA matrices, adapters, prompts, prefixes, IA3 vectors)
    breakdown: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def percent(self) -> float:
        return 100.0 * self.trainable / self.total if self.total else 0.0

    @property
    def head_trainable(self) -> int:
        return self.breakdown.get("head", {}).get("trainable", 0)

    @property
    def trainable_excluding_head(self) -> int:
        return self.trainable - self.head_trainable

    def to_dict(self) -> dict:
        return {"trainable": self.trainable, "total": self.total, "percent": self.percent,
                "breakdown": self.breakdown}

    def __str__(self) -> str:
        return (f"trainable params: {self.trainable:,} || all params: {self.total:,} || "
                f"trainable%: {self.percent:.4f} || head: {self.head_trainable:,}")


def _added_parameter_ids(model: nn.Module) -> set[int]:
    """ids of parameters that a strategy inserted (peft tuner layers, prompt encoders, peftkit modules)."""
    try:
        from peft.tuners.tuners_utils import BaseTunerLayer
    except ImportError:  # pragma: no cover - peft is a dependency
        BaseTunerLayer = ()
    ids: set[int] = set()
    for name, module in model.named_modules():
        if isinstance(module, AddedModule) or name.split(".")[-1] == "prompt_encoder":
            ids.update(id(p) for p in module.parameters())
        elif BaseTunerLayer and isinstance(module, BaseTunerLayer):
            for attr in module.adapter_layer_names:
                sub = getattr(module, attr, None)
                if isinstance(sub, (nn.Module,)):
                    ids.update(id(p) for p in sub.parameters())
    return ids


def count_parameters(model: nn.Module) -> ParameterCount:
    """Count each distinct parameter tensor once (shared/tied weights are not double counted).

    Works on models on the meta device. ``total`` includes everything held in memory, e.g. the frozen
    original copy of the head that peft keeps next to the trained one (as peft's own count does).
    """
    spec = arch.arch_for(model)
    added = _added_parameter_ids(model)
    breakdown = {g: {"trainable": 0, "total": 0} for g in GROUPS}
    seen: set[int] = set()
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen:
            continue
        seen.add(id(p))
        if id(p) in added:
            group = "added"
        elif arch.is_head_name(spec, name):
            group = "head"
        else:
            group = "base"
        n = p.numel()
        breakdown[group]["total"] += n
        if p.requires_grad:
            breakdown[group]["trainable"] += n
    trainable = sum(g["trainable"] for g in breakdown.values())
    total = sum(g["total"] for g in breakdown.values())
    return ParameterCount(trainable=trainable, total=total, breakdown=breakdown)
