"""Tiny random models of every supported architecture (no download) and a matching batch."""

from __future__ import annotations

import torch
import transformers as T

HIDDEN, LAYERS, HEADS, FFN, VOCAB, LABELS = 32, 2, 4, 64, 100, 3

_COMMON = dict(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
               intermediate_size=FFN, vocab_size=VOCAB, max_position_embeddings=64, num_labels=LABELS)

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


def tiny_model(model_type: str, seed: int = 0):
    torch.manual_seed(seed)
    return T.AutoModelForSequenceClassification.from_config(CONFIGS[model_type]())


def batch(model_type: str, seed: int = 0) -> dict:
    """Two sequences, the second padded; left padding for decoders as they classify from the last token."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (2, 8), generator=g)
    mask = torch.ones(2, 8, dtype=torch.long)
    causal = model_type in ("gpt2", "llama", "qwen2")
    if causal:
        mask[1, :2] = 0
        ids[1, :2] = 0
    else:
        mask[1, 6:] = 0
        ids[1, 6:] = 1 if model_type == "roberta" else 0
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 2])}
