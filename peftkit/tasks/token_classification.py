"""Token classification: one tag per word (named entities, part of speech, PII spans).

The head reads every position of the last hidden state (``ArchSpec.token_head``). Words are aligned with
sub-tokens in ``token_data.py``. Metrics are on entities, as conlleval defines them (``tagging.py``, by
seqeval): micro F1 (what comparisons rank by), precision and recall, F1 per entity type, token accuracy
and the cross-entropy of the labelled sub-tokens. Every word of the eval split is scored, including the
ones the length limit cut off (predicted O).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..report_metric import Metric, Score
from .base import Task

if TYPE_CHECKING:  # the settings import the task names: keep this light (no torch at import)
    import numpy as np
    from torch import nn

ENTITY_F1 = Metric("eval_f1_entity", "entity F1",
                   secondary=(Score("eval_accuracy_token", "token acc", "token accuracy", "token_accuracy"),),
                   extra=("eval_precision_entity", "eval_recall_entity"))


def word_tags(logits: np.ndarray, labels: np.ndarray, eval_set, names: list[str]) -> tuple[list, list]:
    """(true, predicted) tag names of every word of ``eval_set``, from the model's sub-token ``logits`` and
    the ``labels`` it was given (rows in ``eval_set``'s order, padded anywhere with -100): the labelled
    sub-tokens of a row, in order, are its ``labelled_words``; every other word is predicted O."""
    from ..token_data import LABELLED_WORDS, WORD_LABELS

    truth, predicted = [], []
    for row, gold, words in zip(range(len(labels)), eval_set[WORD_LABELS], eval_set[LABELLED_WORDS]):
        mask = labels[row] != -100
        chosen = logits[row][mask].argmax(-1)
        if labels[row][mask].tolist() != [gold[w] for w in words]:  # the rows must be eval_set's, in its order
            raise ValueError(f"row {row} of the predictions is not row {row} of the eval split (its labels differ)")
        tags = ["O"] * len(gold)
        for word, tag in zip(words, chosen):
            tags[word] = names[int(tag)]
        truth.append([names[t] for t in gold])
        predicted.append(tags)
    return truth, predicted


def token_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy over the labelled sub-tokens (what the model's loss averages)."""
    from .sequence_classification import cross_entropy

    mask = labels != -100
    return cross_entropy(logits[mask], labels[mask])


class TokenClassification(Task):
    name = "token-classification"
    description = "one tag per word: named entities, part of speech, PII spans (CoNLL, tokens + tags)"
    model_suffix = "ForTokenClassification"
    pipeline_task = "token-classification"
    peft_task_type = "TOKEN_CLS"
    primary = ENTITY_F1
    per_token = True

    def model_class(self) -> type:
        from transformers import AutoModelForTokenClassification

        return AutoModelForTokenClassification

    def load_data(self, dataset: str, **options):
        from ..token_data import load_token_classification

        return load_token_classification(dataset, **options)

    def tokenizer_kwargs(self, tokenizer) -> dict:
        # byte-level BPE tokenizers (RoBERTa, GPT-2) take pre-split words only with a space before each
        return {"add_prefix_space": True} if getattr(tokenizer, "add_prefix_space", None) is False else {}

    def tokenize(self, data, tokenizer, max_length: int, subword_labels: str = "first"):
        from ..token_data import tokenize

        return tokenize(data, tokenizer, max_length, subword_labels)

    def collator(self, tokenizer):
        from transformers import DataCollatorForTokenClassification

        return DataCollatorForTokenClassification(tokenizer)

    def metrics(self, predictions, labels, data=None, eval_set=None) -> dict:
        from ..tagging import entity_metrics

        if data is None or eval_set is None:
            raise ValueError("token-classification metrics need the data and the tokenized eval split")
        truth, predicted = word_tags(predictions, labels, eval_set, data.label_names)
        return {**entity_metrics(truth, predicted, data.scheme), "loss": token_cross_entropy(predictions, labels)}

    def head(self, model: nn.Module) -> tuple[str, ...]:
        from .. import architectures as arch

        return arch.arch_for(model).token_head

    def predict(self, model, tokenizer, texts, batch_size=32):
        from ..token_inference import predict_entities

        return predict_entities(model, tokenizer, texts, batch_size)

    prediction_columns = (("text", "text"), ("entity", "entity"), ("type", "type"), ("score", "score"),
                          ("start", "start"), ("end", "end"))

    def prediction_record(self, text, prediction):
        return {"text": text, "entities": prediction}

    def prediction_rows(self, text, prediction):
        if not prediction:
            return [{"text": text, "entity": "(none)"}]
        return [{"text": text if i == 0 else "", "entity": text[e["start"]:e["end"]], "type": e["entity_group"],
                 "score": e["score"], "start": e["start"], "end": e["end"]} for i, e in enumerate(prediction)]

    def evaluate(self, model, tokenizer, data):
        from ..token_evaluation import evaluate

        return evaluate(self, model, tokenizer, data)
