"""The tests' name for peftkit's tiny random models (they live in peftkit/tiny.py, which `peftkit env` uses),
and what the artifact tests do to them."""

import torch

from peftkit.tiny import CONFIGS, FFN, HEADS, HIDDEN, LABELS, LAYERS, VOCAB, batch, tiny_config, tiny_model

__all__ = ["CONFIGS", "FFN", "HEADS", "HIDDEN", "LABELS", "LAYERS", "VOCAB", "batch", "tiny_config", "tiny_model",
           "as_if_trained"]


def as_if_trained(model):
    """``model`` in eval mode with its trainable weights moved (seeded), as training would move them."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    return model.eval()
