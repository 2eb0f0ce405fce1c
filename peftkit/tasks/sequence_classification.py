"""Sequence (sentence) classification: one label per text or text pair.

The head reads one position of the last hidden state (``ArchSpec.readout``: [CLS] for encoders, the last
token for left-padded decoders), or the mean over tokens for strategies that pool (``pooling.py``).
Metrics: accuracy (what comparisons rank by) and macro precision, recall and F1 (scikit-learn), and the
cross-entropy of the predictions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..report_metric import ACCURACY
from .base import Task

if TYPE_CHECKING:  # the settings import the task names: keep this light (no torch at import)
    import numpy as np
    from torch import nn


def classification_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    predictions = logits.argmax(-1)
    precision, recall, f1, _ = precision_recall_fscore_support(labels, predictions, average="macro", zero_division=0)
    return {"accuracy": float(accuracy_score(labels, predictions)), "f1_macro": float(f1),
            "precision_macro": float(precision), "recall_macro": float(recall)}


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of the gathered predictions (the same on one process or many)."""
    import numpy as np

    logits = logits.astype(np.float64)
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean())


class SequenceClassification(Task):
    name = "sequence-classification"
    description = "one label per text (or text pair): sentiment, topic, entailment"
    model_suffix = "ForSequenceClassification"
    pipeline_task = "text-classification"
    peft_task_type = "SEQ_CLS"
    primary = ACCURACY  # and macro F1, precision and recall

    def model_class(self) -> type:
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification

    def load_data(self, dataset: str, **options):
        from ..data import load_text_classification

        return load_text_classification(dataset, **options)

    def tokenize(self, data, tokenizer, max_length: int, subword_labels: str = "first"):
        from ..data import tokenize

        return tokenize(data, tokenizer, max_length)

    def collator(self, tokenizer):
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(tokenizer)

    def metrics(self, predictions: np.ndarray, labels: np.ndarray, data=None, eval_set=None) -> dict[str, float]:
        return {**classification_metrics(predictions, labels), "loss": cross_entropy(predictions, labels)}

    def head(self, model: nn.Module) -> tuple[str, ...]:
        from .. import architectures as arch

        return arch.arch_for(model).head

    def predict(self, model, tokenizer, texts, batch_size=32):
        from ..inference import predict

        return predict(model, tokenizer, texts, batch_size)

    def evaluate(self, model, tokenizer, data):
        from ..inference import evaluate

        return evaluate(model, tokenizer, data)
