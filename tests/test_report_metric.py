"""A report ranks by the metric it is given (report_metric.Metric): aggregation, the Pareto fronts, the overlaps,
the columns, the sentences and the plot; accuracy is the default, and then nothing changes."""

import csv
import io

import pytest
from rich.console import Console

from peftkit import report
from peftkit.report import (ACCURACY, CSV_COLUMNS, METRICS, Metric, Score, aggregate, aggregated_fields, csv_columns,
                            markdown, overlap_line, plot, print_summary, summary_table, write_reports)

# a token-classification task: no accuracy at all, entity F1 ranks
ENTITY = Metric("eval_f1_entity", "entity F1",
                secondary=(Score("eval_precision_entity", "precision", "entity precision"),),
                extra=("eval_recall_entity",))


def run(strategy, seed, f1, params, memory, accuracy=None):
    return {"strategy": strategy, "seed": seed, "status": "ok", "eval_f1_entity": f1,
            "eval_precision_entity": f1 - 0.01, "eval_recall_entity": f1 + 0.01, "eval_accuracy": accuracy,
            "trainable_params": params, "peak_memory_bytes": memory, "train_seconds": 5.0, "trainable_percent": 1.0,
            "memory_kind": "cpu_rss"}


# By entity F1 head beats everything on both costs; by accuracy (where runs have one) all three are on the front.
ROWS = [run("full", 0, 0.60, 1000, 3 << 30, accuracy=0.95), run("full", 1, 0.62, 1000, 3 << 30, accuracy=0.95),
        run("lora", 0, 0.80, 10, 2 << 30, accuracy=0.90), run("lora", 1, 0.84, 10, 2 << 30, accuracy=0.90),
        run("head", 0, 0.83, 1, 1 << 30, accuracy=0.50), run("head", 1, 0.85, 1, 1 << 30, accuracy=0.50)]
TOKEN_ROWS = [{k: v for k, v in r.items() if k != "eval_accuracy"} for r in ROWS]


def by_name(summary):
    return {s["strategy"]: s for s in summary}


def test_accuracy_is_the_default_and_its_fields_are_the_classification_reports():
    assert ACCURACY.key == "eval_accuracy" and ACCURACY.label == "accuracy"
    assert METRICS == aggregated_fields() == [
        "trainable_params", "total_params", "trainable_percent", "head_params", "peak_memory_bytes",
        "model_memory_bytes", "train_seconds", "train_samples_per_second", "train_tokens_per_second",
        "eval_accuracy", "eval_f1_macro", "eval_precision_macro", "eval_recall_macro", "eval_loss",
        "checkpoint_bytes", "learning_rate", "epochs", "gradient_bytes", "optimizer_state_bytes",
        "estimated_peak_bytes", "mfu"]
    assert CSV_COLUMNS == csv_columns(ACCURACY)
    assert aggregate(ROWS) == aggregate(ROWS, ACCURACY) == aggregate(ROWS, metric=ACCURACY)
    with pytest.raises(AttributeError):
        ACCURACY.key = "x"  # frozen: one shared default


def test_aggregate_ranks_by_the_metric():
    by_accuracy, by_entity = by_name(aggregate(ROWS)), by_name(aggregate(TOKEN_ROWS, metric=ENTITY))
    assert {n for n, s in by_accuracy.items() if s["pareto"]} == {"full", "lora", "head"}
    assert {n for n, s in by_entity.items() if s["pareto"]} == {"head"}
    assert {n for n, s in by_entity.items() if s["pareto_memory"]} == {"head"}
    assert by_entity["full"]["eval_f1_entity_mean"] == pytest.approx(0.61)
    assert by_entity["lora"]["eval_recall_entity_mean"] == pytest.approx(0.83)  # extra fields are averaged too
    # lora 0.82 ± 0.028 and head 0.84 ± 0.014 overlap; full 0.61 ± 0.014 overlaps nobody
    assert by_entity["lora"]["overlaps"] == ["head"] and by_entity["full"]["overlaps"] == []
    assert "eval_accuracy_mean" not in by_entity["full"] and "eval_f1_macro_mean" not in by_entity["full"]


def test_the_summary_table_and_console_are_labelled_by_the_metric():
    summary = aggregate(TOKEN_ROWS, metric=ENTITY)
    display, columns = summary_table(summary, ENTITY)
    assert ("entity F1", "entity F1") in columns and ("precision", "precision") in columns
    assert not {"accuracy", "f1"} & {k for k, _ in columns}
    assert by_name(display)["head *"]["entity F1"] == "0.840 ± 0.014"
    assert by_name(display)["lora"]["precision"] == "0.810 ± 0.028"
    out = io.StringIO()
    print_summary(summary, "out/report.md", Console(file=out, width=100), metric=ENTITY)
    text = out.getvalue()
    assert "entity F1" in text and "accuracy" not in text
    assert "* Pareto front of entity F1 against trainable parameters" in text
    assert "precision" in text.splitlines()[-1]  # the columns left to report.md


def test_the_sentences_and_report_md_name_the_metric():
    summary = aggregate(TOKEN_ROWS, metric=ENTITY)
    assert overlap_line(summary, ENTITY) == "Entity F1 differences within one std (do not over-read them): lora ~ head."
    md = markdown(TOKEN_ROWS, summary, "t", [], None, ENTITY)
    assert "Pareto front of entity F1 against trainable" in md and "![entity F1 against cost](plot.png)" in md
    runs_header = md.split("## Runs")[1].strip().splitlines()[0]
    assert runs_header.startswith("| strategy | seed | status | entity F1 | entity precision | eval loss |")
    assert "accuracy" not in md
    apart = [run("a", 0, 0.5, 1, 1), run("a", 1, 0.5, 1, 1), run("b", 0, 0.9, 2, 2), run("b", 1, 0.9, 2, 2)]
    assert overlap_line(aggregate(apart, ENTITY), ENTITY) == \
        "No two strategies' entity F1 intervals (mean ± std) overlap."


def test_write_reports_by_another_metric(tmp_path):
    paths = write_reports(TOKEN_ROWS, tmp_path, metric=ENTITY)
    with open(paths["csv"], newline="") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == [k for k, _ in csv_columns(ENTITY)]
    assert "eval_f1_entity_mean" in table[0] and "eval_accuracy_mean" not in table[0]
    assert [r["pareto"] for r in table] == ["False", "False", "True"]
    assert "entity F1" in paths["md"].read_text()


def test_the_plot_draws_and_labels_the_metric(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    figures = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig: (figures.append(fig), close(fig)))
    plot(aggregate(TOKEN_ROWS, metric=ENTITY), tmp_path / "plot.png", ENTITY)
    (fig,) = figures
    for ax, cost in zip(fig.axes, ("trainable parameters", "peak memory")):
        assert ax.get_ylabel() == "validation entity F1 (mean ± std)" and ax.get_title() == f"entity F1 vs {cost}"
        (front,) = [line for line in ax.lines if line.get_label() == "Pareto front"]
        assert list(front.get_ydata()) == pytest.approx([0.84])  # head alone, at its entity F1


def test_report_md_by_accuracy_is_unchanged_by_the_parameter():
    rows = [dict(r, eval_f1_macro=r["eval_accuracy"]) for r in ROWS]
    summary = aggregate(rows)
    assert markdown(rows, summary, "t", ["n"], None) == markdown(rows, summary, "t", ["n"], None, ACCURACY)
    assert "![accuracy against cost](plot.png)" in markdown(rows, summary, "t", [], None)
    assert report.RUN_COLUMNS[3:5] == [("eval_accuracy", "accuracy"), ("eval_f1_macro", "macro F1")]
