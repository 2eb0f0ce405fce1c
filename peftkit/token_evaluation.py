"""``peftkit evaluate`` for token classification: entity metrics, seqeval's per-type report and the confusion
of entity types, on every word of the eval split (words cut off by the length limit count as predicted O)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .inference import usable_length

MAX_LENGTH = 512  # what prediction allows (the model's own limit, if lower, wins)


def _logits(model, tokenizer, encoded, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(logits, labels) of the tokenized split, each row padded with -100 to the longest."""
    from transformers import DataCollatorForTokenClassification

    collate = DataCollatorForTokenClassification(tokenizer)
    columns = [c for c in ("input_ids", "attention_mask", "token_type_ids", "labels") if c in encoded.column_names]
    rows = [{c: encoded[c][i] for c in columns} for i in range(len(encoded))]
    longest = max((len(r["input_ids"]) for r in rows), default=0)
    logits = np.full((len(rows), longest, model.config.num_labels), 0.0, dtype=np.float32)
    labels = np.full((len(rows), longest), -100, dtype=np.int64)
    model.eval()
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            batch = collate(rows[start:start + batch_size])
            gold = batch.pop("labels")
            out = model(**batch).logits.float().numpy()
            width = out.shape[1]
            logits[start:start + len(out), :width] = out
            labels[start:start + len(out), :width] = gold.numpy()
    return logits, labels


def evaluate(task, model, tokenizer, data, batch_size: int = 32) -> dict[str, Any]:
    """Metrics on ``data.eval``, the per-type report (``report``) and the entity-type confusion matrix
    (``confusion_matrix``, rows true, columns predicted, over ``confusion_labels``: the types and O)."""
    from .tagging import entity_confusion, entity_metrics, entity_report
    from .tasks.token_classification import token_cross_entropy, word_tags
    from .token_data import encode

    encoded, _, _ = encode(data.eval, tokenizer, usable_length(model, MAX_LENGTH), keep_words=True)
    logits, labels = _logits(model, tokenizer, encoded, batch_size)
    truth, predicted = word_tags(logits, labels, encoded, data.label_names)
    matrix, names = entity_confusion(truth, predicted, data.scheme)
    metrics = entity_metrics(truth, predicted, data.scheme)
    return {**metrics, "loss": token_cross_entropy(logits, labels),
            "report": entity_report(truth, predicted, data.scheme),
            "confusion_matrix": matrix, "confusion_labels": names,
            "confusion_title": "confusion of entity types (O: no entity on that exact span)"}
