"""Reports of a comparison: aggregation over seeds, report.md / results.csv / results.json, and a plot."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any, Sequence

from .store import atomic_write_text
from .tables import to_csv, to_markdown

METRICS = [
    "trainable_params", "total_params", "trainable_percent", "head_params", "peak_memory_bytes",
    "model_memory_bytes", "train_seconds", "train_samples_per_second", "train_tokens_per_second",
    "eval_accuracy", "eval_f1_macro", "eval_precision_macro", "eval_recall_macro", "eval_loss",
    "checkpoint_bytes", "learning_rate", "epochs",
]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def pareto_front(points: Sequence[tuple[str, float, float]]) -> set[str]:
    """Names of (name, cost, score) points that no other point beats on both (cost lower, score higher)."""
    front = set()
    for name, cost, score in points:
        dominated = any(c <= cost and s >= score and (c < cost or s > score) for n, c, s in points if n != name)
        if not dominated:
            front.add(name)
    return front


def aggregate(rows: Sequence[dict]) -> list[dict]:
    """One summary per strategy (first-appearance order): mean and std over its ok runs."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(str(row.get("strategy")), []).append(row)
    summary = []
    for strategy, runs in groups.items():
        ok = [r for r in runs if r.get("status") == "ok"]
        counts: dict[str, int] = {}
        for r in runs:
            counts[str(r.get("status"))] = counts.get(str(r.get("status")), 0) + 1
        status = "ok" if len(ok) == len(runs) else \
            f"{len(ok)}/{len(runs)} ok; " + ", ".join(f"{n} {s}" for s, n in counts.items() if s != "ok")
        if not ok and len(counts) == 1:
            status = next(iter(counts))
        item: dict[str, Any] = {"strategy": strategy, "n_ok": len(ok), "n_runs": len(runs), "status": status,
                                "errors": "; ".join(dict.fromkeys(str(r["error"]) for r in runs if r.get("error")))}
        for metric in METRICS:
            values = [v for v in (_number(r.get(metric)) for r in ok) if v is not None]
            item[f"{metric}_mean"] = statistics.fmean(values) if values else None
            item[f"{metric}_std"] = (statistics.stdev(values) if len(values) > 1 else 0.0) if values else None
        item["memory_kind"] = next((r.get("memory_kind") for r in ok if r.get("memory_kind")), None)
        summary.append(item)
    _mark_pareto_and_overlaps(summary)
    return summary


def _mark_pareto_and_overlaps(summary: list[dict]) -> None:
    scored = [s for s in summary if s["eval_accuracy_mean"] is not None]
    by_params = pareto_front([(s["strategy"], s["trainable_params_mean"] or 0, s["eval_accuracy_mean"]) for s in scored])
    by_memory = pareto_front([(s["strategy"], s["peak_memory_bytes_mean"] or 0, s["eval_accuracy_mean"]) for s in scored])
    for s in summary:
        s["pareto"] = s["strategy"] in by_params
        s["pareto_memory"] = s["strategy"] in by_memory
        s["overlaps"] = []
        if s["eval_accuracy_mean"] is None:
            continue
        low, high = s["eval_accuracy_mean"] - s["eval_accuracy_std"], s["eval_accuracy_mean"] + s["eval_accuracy_std"]
        for other in scored:
            if other is s:
                continue
            o_low = other["eval_accuracy_mean"] - other["eval_accuracy_std"]
            o_high = other["eval_accuracy_mean"] + other["eval_accuracy_std"]
            if o_low <= high and low <= o_high:
                s["overlaps"].append(other["strategy"])


# -- formatting ----------------------------------------------------------------------------------

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


def summary_table(summary: Sequence[dict]) -> tuple[list[dict], list[tuple[str, str]]]:
    """Display rows and (key, header) columns for the console and report.md."""
    rows = []
    for s in summary:
        rows.append({
            "strategy": s["strategy"] + (" *" if s.get("pareto") else ""),
            "status": s["status"],
            "trainable": None if s["trainable_params_mean"] is None else int(s["trainable_params_mean"]),
            "percent": "" if s["trainable_percent_mean"] is None else f"{s['trainable_percent_mean']:.3g}%",
            "memory": human_bytes(s["peak_memory_bytes_mean"]),
            "seconds": "" if s["train_seconds_mean"] is None else f"{s['train_seconds_mean']:.1f}",
            "samples": "" if s["train_samples_per_second_mean"] is None else f"{s['train_samples_per_second_mean']:.1f}",
            "accuracy": _pm(s["eval_accuracy_mean"], s["eval_accuracy_std"], s["n_ok"]),
            "f1": _pm(s["eval_f1_macro_mean"], s["eval_f1_macro_std"], s["n_ok"]),
            "checkpoint": human_bytes(s["checkpoint_bytes_mean"]),
        })
    columns = [("strategy", "strategy"), ("status", "status"), ("trainable", "params"),
               ("percent", "%"), ("memory", "memory"), ("seconds", "time s"),
               ("samples", "samples/s"), ("accuracy", "accuracy"), ("f1", "F1"), ("checkpoint", "saved")]
    return rows, columns


def overlap_line(summary: Sequence[dict]) -> str:
    if all(s["n_ok"] < 2 for s in summary):
        return ("One seed per strategy: there is no spread to judge the gaps by; run with --seeds 0,1,2 "
                "before reading much into a difference of a point or two.")
    pairs = []
    for i, s in enumerate(summary):
        for other in s.get("overlaps", []):
            if [x["strategy"] for x in summary].index(other) > i:
                pairs.append(f"{s['strategy']} ~ {other}")
    if not pairs:
        return "No two strategies' accuracy intervals (mean ± std) overlap."
    return ("Accuracy differences within one std (do not over-read them): " + "; ".join(pairs) + ".")


RUN_COLUMNS = [("strategy", "strategy"), ("seed", "seed"), ("status", "status"), ("eval_accuracy", "accuracy"),
               ("eval_f1_macro", "macro F1"), ("eval_loss", "eval loss"), ("learning_rate", "lr"),
               ("epochs", "epochs"), ("train_seconds", "train s"), ("peak_memory_bytes", "peak memory (B)"),
               ("error", "error")]


def markdown(rows: Sequence[dict], summary: Sequence[dict], title: str, notes: Sequence[str], meta: dict | None) -> str:
    display, columns = summary_table(summary)
    memory_kind = next((s["memory_kind"] for s in summary if s.get("memory_kind")), None)
    parts = [f"# {title}", ""]
    parts += [f"- {n}" for n in notes]
    if meta:
        parts.append(f"- device: {meta.get('device')}; torch {meta.get('torch')}, transformers {meta.get('transformers')}, "
                     f"peft {meta.get('peft')}, peftkit {meta.get('peftkit')} (git {meta.get('git_commit')})")
    if memory_kind:
        parts.append(f"- peak memory: {memory_kind} ({'process peak resident set' if memory_kind == 'cpu_rss' else 'CUDA allocator peak'})")
    parts += ["- mean ± std over seeds (one seed: no ±); * marks the Pareto front of accuracy against trainable "
              "parameters; params: trainable parameters at the end of training; saved: size of what the strategy "
              "must save", "",
              to_markdown(display, columns), overlap_line(summary), "", "## Runs", "",
              to_markdown(list(rows), RUN_COLUMNS), "![accuracy against cost](plot.png)", ""]
    return "\n".join(parts)


def plot(summary: Sequence[dict], path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    scored = [s for s in summary if s["eval_accuracy_mean"] is not None]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    panels = [("trainable_params_mean", "trainable parameters (log scale)", "pareto", True),
              ("peak_memory_bytes_mean", "peak memory (MiB)", "pareto_memory", False)]
    for ax, (key, label, front_key, log) in zip(axes, panels):
        if not scored:
            ax.text(0.5, 0.5, "no successful runs", ha="center", va="center", fontsize=14, transform=ax.transAxes)
            ax.set_axis_off()
            continue
        scale = 1 if key.startswith("trainable") else 1 / 2**20
        xs = [max((s[key] or 0) * scale, 1e-9) for s in scored]
        ys = [s["eval_accuracy_mean"] for s in scored]
        errs = [s["eval_accuracy_std"] or 0 for s in scored]
        on_front = [s[front_key] for s in scored]
        ax.errorbar(xs, ys, yerr=errs, fmt="none", ecolor="0.6", capsize=3)
        ax.scatter([x for x, f in zip(xs, on_front) if not f], [y for y, f in zip(ys, on_front) if not f],
                   s=50, color="tab:blue", label="strategy", zorder=3)
        ax.scatter([x for x, f in zip(xs, on_front) if f], [y for y, f in zip(ys, on_front) if f],
                   s=70, color="tab:red", label="Pareto front", zorder=4)
        front = sorted((x, y) for x, y, f in zip(xs, ys, on_front) if f)
        if len(front) > 1:
            ax.plot(*zip(*front), color="tab:red", linewidth=1.2, zorder=2)
        for i, (x, y, s) in enumerate(sorted(zip(xs, ys, scored), key=lambda t: t[0])):
            ax.annotate(s["strategy"], (x, y), textcoords="offset points", xytext=(6, 5 if i % 2 else -13), fontsize=9)
        if log:
            ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("validation accuracy")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    axes[0].set_title("accuracy vs trainable parameters")
    axes[1].set_title("accuracy vs peak memory")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


def write_reports(rows: Sequence[dict], out_dir: str | Path, *, title: str = "peftkit compare",
                  notes: Sequence[str] = (), meta: dict | None = None) -> dict[str, Path]:
    """report.md, results.csv, results.json and plot.png in out_dir, each written atomically."""
    out = Path(out_dir)
    summary = aggregate(rows)
    paths = {"md": out / "report.md", "csv": out / "results.csv", "json": out / "results.json", "plot": out / "plot.png"}
    plot(summary, paths["plot"])
    atomic_write_text(paths["md"], markdown(rows, summary, title, notes, meta))
    csv_columns = [(k, k) for k in ("strategy", "status", "n_ok", "n_runs")] + \
        [(f"{m}_{x}", f"{m}_{x}") for m in METRICS for x in ("mean", "std")] + [("pareto", "pareto"), ("errors", "errors")]
    atomic_write_text(paths["csv"], to_csv(summary, csv_columns))
    atomic_write_text(paths["json"], json.dumps({"summary": summary, "runs": list(rows), "meta": meta,
                                                 "notes": list(notes)}, indent=2, default=str) + "\n")
    return paths
