"""What a training run measures: peak memory, the training state, throughput and model FLOPs utilisation,
parameter counts, the artifact's size. ``training.py`` trains; this module reads what happened."""

from __future__ import annotations

import resource
from typing import Any

import torch

from . import architectures as arch
from . import flops
from .params import count_parameters


def peak_memory() -> tuple[int, str]:
    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated()), "cuda_allocated"
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024, "cpu_rss"  # Linux reports KiB


def model_bytes(model: torch.nn.Module) -> int:
    tensors = {id(t): t for t in [*model.parameters(), *model.buffers()]}
    return sum(t.numel() * t.element_size() for t in tensors.values())


def training_state_bytes(model: torch.nn.Module, optimizer) -> dict[str, int]:
    """Gradient and optimizer-state memory of the run, measured: frozen parameters have neither."""
    gradients = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    inner = getattr(optimizer, "optimizer", optimizer)  # accelerate wraps the torch optimizer
    state = {id(t): t for s in inner.state.values() for t in s.values() if torch.is_tensor(t)}
    return {"gradient_bytes": int(gradients),
            "optimizer_state_bytes": int(sum(t.numel() * t.element_size() for t in state.values()))}


def parameters(model: torch.nn.Module) -> dict[str, Any]:
    """Trainable and total counts, at the end of training (gradual unfreezing has grown the trainable set)."""
    counts = count_parameters(model)
    return {"trainable_params": counts.trainable, "total_params": counts.total, "trainable_percent": counts.percent,
            "head_params": counts.head_trainable, "params_breakdown": counts.breakdown}


def throughput(model: torch.nn.Module, train_set, *, epochs: float, seconds: float, cached: bool,
               compute_dtype: str) -> dict[str, Any]:
    """Samples, tokens and model FLOPs per second of training, and MFU. With the feature cache the body ran
    once over the data, not once per epoch, and no gradient flowed through it."""
    counts = count_parameters(model)
    tokens = int(sum(len(ids) for ids in train_set["input_ids"]))  # real tokens: padding is added later
    per_token = flops.training_flops_per_token(
        model, backward_through_body=not cached and counts.trainable > counts.head_trainable,
        seq_len=tokens / max(len(train_set), 1))
    model_flops_per_second = per_token * tokens * (1 if cached else epochs) / seconds
    return {"train_samples_per_second": len(train_set) * epochs / seconds,
            "train_tokens_per_second": tokens * epochs / seconds,
            "model_flops_per_second": model_flops_per_second,
            "mfu": flops.mfu(model_flops_per_second, compute_dtype),
            "attention": getattr(arch.unwrap(model).config, "_attn_implementation", None)}
