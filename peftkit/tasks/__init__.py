"""The registry of tasks. A run names its task (``RunConfig.task``), or the data's format says it
(``infer_task``); sequence classification is the default."""

from __future__ import annotations

from ..errors import OptionError
from ..report_metric import Metric
from .base import Task
from .sequence_classification import SequenceClassification
from .token_classification import TokenClassification

TASKS: dict[str, Task] = {task.name: task for task in (SequenceClassification(), TokenClassification())}
DEFAULT_TASK = SequenceClassification.name


def get_task(name: str | None = None) -> Task:
    """The task called ``name`` (the default task for None); an unknown name lists the valid ones."""
    try:
        return TASKS[name or DEFAULT_TASK]
    except KeyError:
        raise OptionError(f"unknown task '{name}'; valid tasks: {', '.join(TASKS)}") from None


def infer_task(dataset: str) -> str:
    """The task a dataset's format says: token classification for CoNLL columns or list columns of tokens
    and tags, else sequence classification."""
    from ..token_reading import is_token_dataset

    return TokenClassification.name if is_token_dataset(str(dataset)) else DEFAULT_TASK


def task_of_records(records) -> Task:
    """The task of a store's run records (sequence classification's for records from before runs named one)."""
    tasks = {r.get("run_info", {}).get("config", {}).get("task") for r in records}
    return get_task(next(iter(tasks - {None}), None))


def task_of(model) -> Task:
    """The task a transformers model was built for, from its class (``BertForSequenceClassification``...)."""
    from .. import architectures as arch

    cls = type(arch.unwrap(model))
    for task in TASKS.values():
        if any(c.__name__.endswith(task.model_suffix) for c in cls.__mro__):
            return task
    raise OptionError(f"{cls.__name__} is not a model of a task peftkit knows ({', '.join(TASKS)})")


__all__ = ["DEFAULT_TASK", "Metric", "TASKS", "Task", "get_task", "infer_task", "task_of", "task_of_records"]
