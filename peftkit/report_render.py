"""A comparison's summary as text: the summary table (console and report.md), the overlap sentence, report.md,
the columns of results.csv and the document of results.json."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

from .report_aggregate import number
from .report_metric import ACCURACY, Metric, aggregated_fields
from .tables import to_markdown


def human_bytes(value: float | None) -> str:
    if value is None:
        return ""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value:.0f} B"


def _pm(mean: float | None, std: float | None, n: int, digits: int = 3) -> str:
    """'mean ± std' over seeds; a single run has no spread to show."""
    if mean is None:
        return ""
    return f"{mean:.{digits}f}" if n < 2 else f"{mean:.{digits}f} ± {std or 0:.{digits}f}"


def _scores(s: dict, metric: Metric) -> dict[str, str]:
    """The display cells of the metric and its secondary scores."""
    cells = {metric.label: _pm(s[f"{metric.key}_mean"], s[f"{metric.key}_std"], s["n_ok"])}
    for score in metric.secondary:
        cells[score.display] = _pm(s[f"{score.key}_mean"], s[f"{score.key}_std"], s["n_ok"])
    return cells


def _display_row(s: dict, metric: Metric) -> dict[str, Any]:
    return {
        "strategy": s["strategy"] + (" *" if s.get("pareto") else ""),
        "status": s["status"],
        "trainable": None if s["trainable_params_mean"] is None else int(s["trainable_params_mean"]),
        "percent": "" if s["trainable_percent_mean"] is None else f"{s['trainable_percent_mean']:.3g}%",
        "memory": human_bytes(s["peak_memory_bytes_mean"]),
        # what training adds on top of the weights; frozen parameters contribute nothing here
        "state": human_bytes(None if s["gradient_bytes_mean"] is None else
                             s["gradient_bytes_mean"] + (s["optimizer_state_bytes_mean"] or 0)),
        "lr": "" if s["learning_rate_mean"] is None else f"{s['learning_rate_mean']:.2g}",
        "estimate": human_bytes(s["estimated_peak_bytes_mean"]),
        "mfu": "" if s["mfu_mean"] is None else f"{100 * s['mfu_mean']:.1f}%",
        "seconds": "" if s["train_seconds_mean"] is None else f"{s['train_seconds_mean']:.1f}",
        "samples": "" if s["train_samples_per_second_mean"] is None else f"{s['train_samples_per_second_mean']:.1f}",
        **_scores(s, metric),
        "checkpoint": human_bytes(s["checkpoint_bytes_mean"]),
    }


def summary_table(summary: Sequence[dict], metric: Metric = ACCURACY) -> tuple[list[dict], list[tuple[str, str]]]:
    """Display rows and (key, header) columns for the console and report.md."""
    rows = [_display_row(s, metric) for s in summary]
    columns = [("strategy", "strategy"), ("status", "status"), ("trainable", "params"),
               ("percent", "%"), ("memory", "memory"), ("estimate", "estimated"), ("state", "grads+optim"),
               ("lr", "lr"), ("seconds", "time s"), ("mfu", "MFU"), ("samples", "samples/s"),
               (metric.label, metric.label), *((s.display, s.header) for s in metric.secondary),
               ("checkpoint", "saved")]
    optional = {"estimate", "mfu", "state", "lr"}  # left out when no run has them (e.g. MFU on a CPU)
    columns = [c for c in columns if c[0] not in optional or any(r[c[0]] not in ("", None) for r in rows)]
    return rows, columns


def console_columns(metric: Metric = ACCURACY) -> list[tuple[str, str]]:
    """The console's view of the summary: few enough columns to read at 80 columns; report.md has them all."""
    return [("strategy", "strategy"), ("status", "status"), ("percent", "trainable %"), ("memory", "memory"),
            ("seconds", "time s"), (metric.label, metric.label)]


CONSOLE_COLUMNS = console_columns(ACCURACY)


def print_summary(summary: Sequence[dict], report_md: str | Path, console=None, *, metric: Metric = ACCURACY) -> None:
    """The console table of a comparison, and where the full one is."""
    from rich.console import Console

    from .tables import print_rich, to_rich

    console = console or Console()
    rows, columns = summary_table(summary, metric)
    shown_columns = console_columns(metric)
    shown = {key for key, _ in shown_columns}
    caption = f"* Pareto front of {metric.label} against trainable parameters" \
        if any(s.get("pareto") for s in summary) else None
    print_rich(to_rich(rows, shown_columns, title="peftkit compare", caption=caption), console)
    rest = ", ".join(header for key, header in columns if key not in shown)
    console.print(f"full table ({rest}), every run and the notes: {report_md}", soft_wrap=True, markup=False,
                  highlight=False)


def overlap_line(summary: Sequence[dict], metric: Metric = ACCURACY) -> str:
    """The sentence under the summary table that says which gaps in the metric are within one std."""
    if all(s[f"{metric.key}_mean"] is None for s in summary):
        return "No successful runs: there is nothing to compare; see the errors in the runs table below."
    if all(s["n_ok"] < 2 for s in summary):
        return ("One seed per strategy: there is no spread to judge the gaps by; run with --seeds 0,1,2 "
                "before reading much into a difference of a point or two.")
    pairs = []
    for i, s in enumerate(summary):
        for other in s.get("overlaps", []):
            if [x["strategy"] for x in summary].index(other) > i:
                pairs.append(f"{s['strategy']} ~ {other}")
    if not pairs:
        return f"No two strategies' {metric.label} intervals (mean ± std) overlap."
    return f"{metric.sentence_label} differences within one std (do not over-read them): " + "; ".join(pairs) + "."


def run_columns(metric: Metric = ACCURACY) -> list[tuple[str, str]]:
    """report.md's table of every run."""
    return [("strategy", "strategy"), ("seed", "seed"), ("status", "status"), (metric.key, metric.label),
            *((s.key, s.runs) for s in metric.secondary), ("eval_loss", "eval loss"), ("learning_rate", "lr"),
            ("epochs", "epochs"), ("train_seconds", "train s"), ("peak_memory", "peak memory"), ("error", "error")]


RUN_COLUMNS = run_columns(ACCURACY)

META_KEYS = [("device", "device"), ("cuda", "CUDA"), ("torch", "torch"), ("transformers", "transformers"),
             ("peft", "peft"), ("peftkit", "peftkit"), ("git_commit", "git"), ("python", "python")]

MEMORY_KINDS = {"cpu_rss": "process peak resident set (CPU RSS)", "cuda_allocated": "CUDA allocator peak"}


def _meta_lines(meta: dict | None) -> list[str]:
    """A short list of versions and device; keys other than META_KEYS are left to results.json."""
    if not meta:
        return []
    device = [f"{label}: {meta[k]}" for k, label in META_KEYS[:2] if meta.get(k) not in (None, "")]
    versions = [f"{label} {meta[k]}" for k, label in META_KEYS[2:] if meta.get(k) not in (None, "")]
    return [f"- {', '.join(part)}" for part in (device, versions) if part]


def _run_display(rows: Sequence[dict]) -> list[dict]:
    """Runs as they appear in report.md: memory in human units, numbers rounded."""
    shown = []
    for r in rows:
        d = dict(r)
        d["peak_memory"] = human_bytes(number(r.get("peak_memory_bytes")))
        d["train_seconds"] = None if number(r.get("train_seconds")) is None else round(r["train_seconds"], 1)
        shown.append(d)
    return shown


def _legend(metric: Metric) -> str:
    """The line that says what the summary table's columns mean."""
    return (f"- mean ± std over seeds (one seed: no ±); * marks the Pareto front of {metric.label} against trainable "
            "parameters; params: trainable parameters at the end of training; grads+optim: gradient and "
            "optimizer-state memory measured at the end of training (frozen parameters have neither); "
            "lr: the learning rate used; estimated: `peftkit estimate`'s peak for the run, made before it started (training "
            "memory only, padded to max-length; compare it with a GPU's cuda_allocated, not with a CPU's process RSS); "
            "MFU: model FLOPs utilisation (GPU only); saved: size of what the strategy must save")


def markdown(rows: Sequence[dict], summary: Sequence[dict], title: str, notes: Sequence[str], meta: dict | None,
             metric: Metric = ACCURACY) -> str:
    """report.md: the notes, versions, the summary table, the overlap sentence, every run and the plot."""
    display, columns = summary_table(summary, metric)
    memory_kind = next((s["memory_kind"] for s in summary if s.get("memory_kind")), None)
    parts = [f"# {title}", ""]
    parts += [f"- {n}" for n in notes]
    parts += _meta_lines(meta)
    if memory_kind:
        parts.append(f"- peak memory: {memory_kind} ({MEMORY_KINDS.get(memory_kind, memory_kind)})")
    parts += [_legend(metric), "", to_markdown(display, columns), overlap_line(summary, metric), "", "## Runs", "",
              to_markdown(_run_display(rows), run_columns(metric)), f"![{metric.label} against cost](plot.png)", ""]
    return "\n".join(parts)


# -- results.csv and results.json ----------------------------------------------------------------

def _finite(value: Any) -> Any:
    """NaN and infinity (a diverged loss) as null, so results.json is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def csv_columns(metric: Metric = ACCURACY) -> list[tuple[str, str]]:
    """results.csv's columns: one row per strategy, the mean and std of every aggregated field."""
    return [(k, k) for k in ("strategy", "status", "n_ok", "n_runs")] + \
        [(f"{m}_{x}", f"{m}_{x}") for m in aggregated_fields(metric) for x in ("mean", "std")] + \
        [("pareto", "pareto"), ("errors", "errors")]


CSV_COLUMNS = csv_columns(ACCURACY)


def results_json(rows: Sequence[dict], summary: Sequence[dict], meta: dict | None, notes: Sequence[str]) -> str:
    """results.json: the summary, every run, the versions and the notes, as strict JSON."""
    document = _finite({"summary": summary, "runs": list(rows), "meta": meta, "notes": list(notes)})
    return json.dumps(document, indent=2, default=str, allow_nan=False) + "\n"
