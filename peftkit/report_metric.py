"""What a report ranks strategies by: the task's primary score and its other score columns.

A comparison of sequence classifiers ranks by accuracy (``ACCURACY``, every report's default); another task
passes its own ``Metric`` to ``write_reports``, ``aggregate``, ``summary_table``, ``print_summary`` and
``plot``, e.g. ``Metric("eval_f1_entity", "entity F1")``. The report's costs (parameters, memory, time) are
the same for every task.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Score:
    """A score column after the primary one, in the summary table and in report.md's Runs table."""

    key: str  # the run's field, e.g. "eval_f1_macro"
    header: str  # the summary table's header, e.g. "F1"
    run_header: str = ""  # the Runs table's header ("": header), e.g. "macro F1"
    name: str = ""  # its key in summary_table's display rows ("": header), e.g. "f1"

    @property
    def runs(self) -> str:
        return self.run_header or self.header

    @property
    def display(self) -> str:
        return self.name or self.header


@dataclass(frozen=True)
class Metric:
    """The score a report ranks by (higher is better): aggregation's Pareto fronts and overlaps, the summary
    columns, the sentences and the plot's y axis are all of ``key``, called ``label``."""

    key: str  # the run's field, e.g. "eval_accuracy"; the summary has f"{key}_mean" and f"{key}_std"
    label: str  # e.g. "accuracy": header, console column, sentences, plot axis (and the display rows' key)
    secondary: tuple[Score, ...] = ()  # further score columns of the summary and Runs tables
    extra: tuple[str, ...] = ()  # further score fields only aggregated (results.csv, results.json)

    @property
    def fields(self) -> tuple[str, ...]:
        """Every score field of the task, in the order results.csv has them."""
        return (self.key, *(s.key for s in self.secondary), *self.extra)

    @property
    def sentence_label(self) -> str:
        """``label`` at the start of a sentence: "Accuracy", "Entity F1" (str.capitalize would say "f1")."""
        return self.label[:1].upper() + self.label[1:]


ACCURACY = Metric("eval_accuracy", "accuracy", secondary=(Score("eval_f1_macro", "F1", "macro F1", "f1"),),
                  extra=("eval_precision_macro", "eval_recall_macro"))

# The costs and measurements of a run, the same whatever the task: averaged around the task's scores.
COSTS_BEFORE = ("trainable_params", "total_params", "trainable_percent", "head_params", "peak_memory_bytes",
                "model_memory_bytes", "train_seconds", "train_samples_per_second", "train_tokens_per_second")
COSTS_AFTER = ("eval_loss", "checkpoint_bytes", "learning_rate", "epochs", "gradient_bytes", "optimizer_state_bytes",
               "estimated_peak_bytes", "mfu")


def aggregated_fields(metric: Metric = ACCURACY) -> list[str]:
    """Every field averaged over seeds (each gets ``_mean`` and ``_std`` in the summary), in results.csv's order."""
    fields = [*COSTS_BEFORE, *metric.fields, *COSTS_AFTER]
    return list(dict.fromkeys(fields))  # a task whose score is also a cost field is averaged once
