"""Reports of a comparison: report.md, results.csv, results.json and plot.png, ranked by one metric.

The parts live apart and are all importable from here:

- ``report_metric``: ``Metric`` (what the report ranks by; ``ACCURACY`` by default) and the fields averaged;
- ``report_aggregate``: ``aggregate`` (mean and std over seeds, Pareto fronts, overlaps), ``pareto_front``;
- ``report_render``: ``summary_table``, ``print_summary``, ``overlap_line``, ``markdown``, results.csv's
  columns and results.json's document;
- ``report_plot``: ``plot`` and its label placement.

Every file is written with ``output``'s atomic writer: a reader sees the old file or the new one, never part.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .output import atomic_write_text
from .report_aggregate import METRICS, aggregate, pareto_front
from .report_metric import ACCURACY, Metric, Score, aggregated_fields
from .report_plot import FAR_OFFSETS, LABEL_OFFSETS, plot
from .report_render import (CONSOLE_COLUMNS, CSV_COLUMNS, MEMORY_KINDS, META_KEYS, RUN_COLUMNS, console_columns,
                            csv_columns, human_bytes, markdown, overlap_line, print_summary, results_json,
                            run_columns, summary_table)
from .tables import to_csv

__all__ = ["ACCURACY", "CONSOLE_COLUMNS", "CSV_COLUMNS", "FAR_OFFSETS", "LABEL_OFFSETS", "MEMORY_KINDS", "META_KEYS",
           "METRICS", "Metric", "RUN_COLUMNS", "Score", "aggregate", "aggregated_fields", "console_columns",
           "csv_columns", "human_bytes", "markdown", "overlap_line", "pareto_front", "plot", "print_summary",
           "results_json", "run_columns", "summary_table", "write_reports"]


def write_reports(rows: Sequence[dict], out_dir: str | Path, *, title: str = "peftkit compare",
                  notes: Sequence[str] = (), meta: dict | None = None, metric: Metric = ACCURACY) -> dict[str, Path]:
    """report.md, results.csv, results.json and plot.png in out_dir, ranked by ``metric``; each written
    atomically."""
    out = Path(out_dir)
    summary = aggregate(rows, metric)
    paths = {"md": out / "report.md", "csv": out / "results.csv", "json": out / "results.json", "plot": out / "plot.png"}
    plot(summary, paths["plot"], metric)
    atomic_write_text(paths["md"], markdown(rows, summary, title, notes, meta, metric))
    atomic_write_text(paths["csv"], to_csv(summary, csv_columns(metric)))
    atomic_write_text(paths["json"], results_json(rows, summary, meta, notes))
    return paths
