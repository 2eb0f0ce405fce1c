"""The tests' name for peftkit's tiny random models (they live in peftkit/tiny.py, which `peftkit env` uses)."""

from peftkit.tiny import CONFIGS, FFN, HEADS, HIDDEN, LABELS, LAYERS, VOCAB, batch, tiny_config, tiny_model

__all__ = ["CONFIGS", "FFN", "HEADS", "HIDDEN", "LABELS", "LAYERS", "VOCAB", "batch", "tiny_config", "tiny_model"]
