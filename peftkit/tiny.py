"""Tiny random models of every supported architecture (no download) and a matching batch.

Hidden size 32, 2 layers, 4 heads, a 100-token vocabulary and 3 labels: a forward and backward pass takes
milliseconds. ``peftkit env`` checks every strategy on them; the tests use them too.
"""

from __future__ import annotations

import torch
import transformers as T

from .architectures import arch_for_config

HIDDEN, LAYERS, HEADS, FFN, VOCAB, LABELS = 32, 2, 4, 64, 100, 3
LENGTH = 8  # tokens per sequence in `batch`

_COMMON = dict(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
               intermediate_size=FFN, vocab_size=VOCAB, max_position_embeddings=64, num_labels=LABELS)

# one config per supported model_type (tests check that this covers peftkit/architectures.py)
CONFIGS = {
    "bert": lambda: T.BertConfig(**_COMMON),
    "roberta": lambda: T.RobertaConfig(**_COMMON, pad_token_id=1),
    "distilbert": lambda: T.DistilBertConfig(dim=HIDDEN, n_layers=LAYERS, n_heads=HEADS, hidden_dim=FFN,
                                             vocab_size=VOCAB, max_position_embeddings=64, num_labels=LABELS),
    "albert": lambda: T.AlbertConfig(**_COMMON, embedding_size=16),
    "electra": lambda: T.ElectraConfig(**_COMMON, embedding_size=16),
    "deberta-v2": lambda: T.DebertaV2Config(**_COMMON, relative_attention=True, pos_att_type=["p2c", "c2p"],
                                            position_buckets=8, max_relative_positions=16),
    "gpt2": lambda: T.GPT2Config(n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS, vocab_size=VOCAB, n_positions=64,
                                 num_labels=LABELS, pad_token_id=0, bos_token_id=1, eos_token_id=1),
    "llama": lambda: T.LlamaConfig(**_COMMON, num_key_value_heads=2, pad_token_id=0),
    "qwen2": lambda: T.Qwen2Config(**_COMMON, num_key_value_heads=2, pad_token_id=0),
}


def tiny_config(model_type: str):
    try:
        return CONFIGS[model_type]()
    except KeyError:
        raise KeyError(f"no tiny config for model type '{model_type}'; known: {', '.join(CONFIGS)}") from None


def tiny_model(model_type: str, seed: int = 0, task: str | None = None):
    """A randomly initialised model of `model_type` for `task` (default: *ForSequenceClassification); seeds
    torch's global RNG."""
    from .tasks import get_task

    torch.manual_seed(seed)
    return get_task(task).model_class().from_config(tiny_config(model_type))


def batch(model_type: str, seed: int = 0, task: str | None = None) -> dict:
    """Two sequences, the second padded; left padding for decoders as they classify from the last token.
    A task that labels tokens gets a label per token (-100 on the padding and the first token)."""
    from .tasks import get_task

    config = tiny_config(model_type)
    pad = config.pad_token_id or 0
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (2, LENGTH), generator=g)
    mask = torch.ones(2, LENGTH, dtype=torch.long)
    padded = slice(0, 2) if arch_for_config(config).causal else slice(LENGTH - 2, LENGTH)
    mask[1, padded] = 0
    ids[1, padded] = pad
    if get_task(task).per_token:
        labels = torch.randint(0, LABELS, (2, LENGTH), generator=g)
        labels[mask == 0] = -100
        labels[:, 0] = -100  # as a special token is
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, LABELS - 1])}
