"""Model FLOPs of training and model FLOPs utilisation (MFU).

Counting follows the usual convention (Kaplan et al., 2020; PaLM appendix B): a matrix multiply with
N weights costs 2N FLOPs per token forward; backward costs 2N for the input gradient (needed whenever
something below still trains) plus 2N for the weight gradient (only for weights that train).
Attention scores and their use add 4·s·d per layer per token forward (s: sequence length, d: width)
and twice that backward. Embedding lookups, norms and activations are left out, as in the papers.

MFU is achieved model FLOPs per second over the device's dense peak for the compute dtype. There is
no meaningful peak for a CPU, so MFU is None there.
"""

from __future__ import annotations

import torch
from torch import nn

from . import architectures as arch

# Dense tensor-core peaks (FLOP/s) from the vendors' data sheets (SXM parts), by compute dtype.
PEAK_FLOPS = {
    "H200": {"bf16": 989e12, "fp16": 989e12, "fp32": 494.5e12},
    "H100": {"bf16": 989e12, "fp16": 989e12, "fp32": 494.5e12},  # fp32: TF32 tensor cores
    "A100": {"bf16": 312e12, "fp16": 312e12, "fp32": 156e12},
    "L40S": {"bf16": 362e12, "fp16": 362e12, "fp32": 183e12},
    "L4": {"bf16": 121e12, "fp16": 121e12, "fp32": 60e12},
    "A10": {"bf16": 125e12, "fp16": 125e12, "fp32": 62.5e12},
    "V100": {"fp16": 125e12, "fp32": 15.7e12},
    "T4": {"fp16": 65e12, "fp32": 8.1e12},
}


def _matmul_weights(module: nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in module.modules() if arch.is_projection(m) and m.weight is not None]


def training_flops_per_token(model: nn.Module, *, backward_through_body: bool = True, seq_len: float = 128) -> float:
    """Model FLOPs to train on one token: forward, input gradients if they must flow, weight gradients."""
    weights = _matmul_weights(arch.unwrap(model))
    total = sum(w.numel() for w in weights)
    trained = sum(w.numel() for w in weights if w.requires_grad)
    base = arch.unwrap(model)
    layers = len(arch.blocks(base))
    width = base.config.hidden_size if hasattr(base.config, "hidden_size") else 0
    attention = 4 * seq_len * width * layers
    forward = 2 * total + attention
    backward = 2 * trained + ((2 * total + 2 * attention) if backward_through_body else 0)
    return float(forward + backward)


def peak_flops(dtype: str) -> float | None:
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name(0)
    for key, peaks in PEAK_FLOPS.items():
        if key in name:
            return peaks.get(dtype)
    return None


def mfu(model_flops_per_second: float, dtype: str) -> float | None:
    peak = peak_flops(dtype)
    return None if not peak else model_flops_per_second / peak
