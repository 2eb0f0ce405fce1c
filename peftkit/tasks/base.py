"""The task contract: what a model is trained to predict, and everything that depends on it.

A task owns its model class (``AutoModelFor...``), its data (the reader, the columns, tokenizing and
the collator that pads batches), its metrics and the one a comparison ranks by, and where its head reads
the body. ``training``, ``compare``, ``inference``, ``estimate`` and the reports ask the run's task;
they never assume one. Tasks register in ``peftkit/tasks/__init__.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ..report_metric import Metric

if TYPE_CHECKING:  # the settings import the task names: keep this light (no torch at import)
    import numpy as np
    from torch import nn


class Task:
    """One task. Subclasses set the class attributes and implement the methods."""

    name: ClassVar[str]  # as --task takes it and run records store it
    description: ClassVar[str]
    model_suffix: ClassVar[str]  # transformers' class-name suffix of its models ("ForSequenceClassification")
    pipeline_task: ClassVar[str]  # transformers.pipeline's name of the task, which a merged artifact serves
    peft_task_type: ClassVar[str]  # peft.TaskType value: decides the peft model class and what it saves
    # what compare's table, mean ± std, the LR search, the plot and the Pareto front rank by (with the
    # task's further score columns); its key is the field of a run's train_info (eval_<metric>)
    primary: ClassVar[Metric]
    per_token: ClassVar[bool] = False  # one label per token (the head reads every position), not one per text

    def model_class(self) -> type:
        """The transformers Auto class of the task's models (``from_pretrained`` / ``from_config``)."""
        raise NotImplementedError

    def load_data(self, dataset: str, **options: Any):
        """The dataset argument read into train/eval splits (an object with ``train``, ``eval``,
        ``label_names``, ``num_labels``, ``eval_split``, ``notes``)."""
        raise NotImplementedError

    def tokenizer_kwargs(self, tokenizer) -> dict[str, Any]:
        """What ``AutoTokenizer.from_pretrained`` must be given again for this task (``{}``: the tokenizer as
        loaded serves)."""
        return {}

    def tokenize(self, data, tokenizer, max_length: int, subword_labels: str = "first"):
        """(train, eval) datasets of model inputs with ``labels``, not padded. ``subword_labels``: which
        sub-tokens of a word carry its label (tasks that label words)."""
        raise NotImplementedError

    def collator(self, tokenizer):
        """What pads a list of tokenized examples into a batch."""
        raise NotImplementedError

    def metrics(self, predictions: np.ndarray, labels: np.ndarray, data=None, eval_set=None) -> dict[str, Any]:
        """Every metric of the task (keys without the ``eval_`` prefix), including ``loss``, from the model's
        outputs on ``eval_set`` (the tokenized eval split of ``data``, in the same order)."""
        raise NotImplementedError

    def head(self, model: nn.Module) -> tuple[str, ...]:
        """Top-level modules of ``model`` that form the task head."""
        raise NotImplementedError

    def predict(self, model: nn.Module, tokenizer, texts: list[str], batch_size: int = 32) -> list[Any]:
        """What a transformers pipeline of the task would return for each text."""
        raise NotImplementedError

    # `peftkit predict`: the columns of its tables, and what each text's prediction becomes
    prediction_columns: ClassVar[tuple[tuple[str, str], ...]] = (("text", "text"), ("label", "label"), ("score", "score"))

    def prediction_record(self, text: str, prediction: Any) -> dict[str, Any]:
        """One text's prediction as ``--format json`` writes it."""
        return {"text": text, **prediction}

    def prediction_rows(self, text: str, prediction: Any) -> list[dict[str, Any]]:
        """The table rows of one text's prediction (``prediction_columns``)."""
        return [self.prediction_record(text, prediction)]

    def evaluate(self, model: nn.Module, tokenizer, data) -> dict[str, Any]:
        """Metrics on ``data.eval`` plus the task's report (``report``: text) and confusion matrix
        (``confusion_matrix``: array, rows true, columns predicted; ``confusion_labels`` and ``confusion_title``:
        its labels and title, if not the label names and "confusion matrix") for ``peftkit evaluate``."""
        raise NotImplementedError
