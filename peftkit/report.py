"""Reports of a comparison: aggregation over seeds, report.md / results.csv / results.json, and a plot."""

from __future__ import annotations

import json
import math
import os
import statistics
import uuid
from pathlib import Path
from typing import Any, Sequence

from .store import atomic_write_text
from .tables import to_csv, to_markdown

METRICS = [
    "trainable_params", "total_params", "trainable_percent", "head_params", "peak_memory_bytes",
    "model_memory_bytes", "train_seconds", "train_samples_per_second", "train_tokens_per_second",
    "eval_accuracy", "eval_f1_macro", "eval_precision_macro", "eval_recall_macro", "eval_loss",
    "checkpoint_bytes", "learning_rate", "epochs", "gradient_bytes", "optimizer_state_bytes", "estimated_peak_bytes",
    "mfu",
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


def _group_names(rows: Sequence[dict]) -> list[str]:
    """Each row's group: its strategy, and its learning rate and epochs where runs of that strategy
    differ in them (a store that kept the runs of earlier defaults), so no mean mixes two settings."""
    settings: dict[str, set] = {}
    for row in rows:
        settings.setdefault(str(row.get("strategy")), set()).add((row.get("learning_rate"), row.get("epochs")))
    names = []
    for row in rows:
        name, seen = str(row.get("strategy")), settings[str(row.get("strategy"))]
        if len(seen) > 1:
            parts = [f"lr {row.get('learning_rate')}" if len({lr for lr, _ in seen}) > 1 else "",
                     f"{row.get('epochs')} ep" if len({ep for _, ep in seen}) > 1 else ""]
            name += " (" + ", ".join(p for p in parts if p) + ")"
        names.append(name)
    return names


def aggregate(rows: Sequence[dict]) -> list[dict]:
    """One summary per strategy and setting (first-appearance order): mean and std over its ok runs."""
    groups: dict[str, list[dict]] = {}
    for row, name in zip(rows, _group_names(rows)):
        groups.setdefault(name, []).append(row)
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


def _front_by(summary: Sequence[dict], cost_key: str) -> set[str]:
    """Pareto front of accuracy against one cost; strategies missing either value are not on it."""
    return pareto_front([(s["strategy"], s[cost_key], s["eval_accuracy_mean"]) for s in summary
                         if s["eval_accuracy_mean"] is not None and s[cost_key] is not None])


def _interval(s: dict) -> tuple[float, float]:
    return s["eval_accuracy_mean"] - s["eval_accuracy_std"], s["eval_accuracy_mean"] + s["eval_accuracy_std"]


def _mark_pareto_and_overlaps(summary: list[dict]) -> None:
    scored = [s for s in summary if s["eval_accuracy_mean"] is not None]
    by_params, by_memory = _front_by(summary, "trainable_params_mean"), _front_by(summary, "peak_memory_bytes_mean")
    for s in summary:
        s["pareto"] = s["strategy"] in by_params
        s["pareto_memory"] = s["strategy"] in by_memory
        s["overlaps"] = []
        if s["eval_accuracy_mean"] is None:
            continue
        low, high = _interval(s)
        s["overlaps"] = [o["strategy"] for o in scored if o is not s and _interval(o)[0] <= high and low <= _interval(o)[1]]


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
            # what training adds on top of the weights; frozen parameters contribute nothing here
            "state": human_bytes(None if s["gradient_bytes_mean"] is None else
                                 s["gradient_bytes_mean"] + (s["optimizer_state_bytes_mean"] or 0)),
            "lr": "" if s["learning_rate_mean"] is None else f"{s['learning_rate_mean']:.2g}",
            "estimate": human_bytes(s["estimated_peak_bytes_mean"]),
            "mfu": "" if s["mfu_mean"] is None else f"{100 * s['mfu_mean']:.1f}%",
            "seconds": "" if s["train_seconds_mean"] is None else f"{s['train_seconds_mean']:.1f}",
            "samples": "" if s["train_samples_per_second_mean"] is None else f"{s['train_samples_per_second_mean']:.1f}",
            "accuracy": _pm(s["eval_accuracy_mean"], s["eval_accuracy_std"], s["n_ok"]),
            "f1": _pm(s["eval_f1_macro_mean"], s["eval_f1_macro_std"], s["n_ok"]),
            "checkpoint": human_bytes(s["checkpoint_bytes_mean"]),
        })
    columns = [("strategy", "strategy"), ("status", "status"), ("trainable", "params"),
               ("percent", "%"), ("memory", "memory"), ("estimate", "estimated"), ("state", "grads+optim"),
               ("lr", "lr"), ("seconds", "time s"), ("mfu", "MFU"),
               ("samples", "samples/s"), ("accuracy", "accuracy"), ("f1", "F1"), ("checkpoint", "saved")]
    optional = {"estimate", "mfu", "state", "lr"}  # left out when no run has them (e.g. MFU on a CPU)
    columns = [c for c in columns if c[0] not in optional or any(r[c[0]] not in ("", None) for r in rows)]
    return rows, columns


# The console's view of the summary: few enough columns to read at 80 columns; report.md has them all.
CONSOLE_COLUMNS = [("strategy", "strategy"), ("status", "status"), ("percent", "trainable %"), ("memory", "memory"),
                   ("seconds", "time s"), ("accuracy", "accuracy")]


def print_summary(summary: Sequence[dict], report_md: str | Path, console=None) -> None:
    """The console table of a comparison, and where the full one is."""
    from rich.console import Console

    from .tables import print_rich, to_rich

    console = console or Console()
    rows, columns = summary_table(summary)
    shown = {key for key, _ in CONSOLE_COLUMNS}
    caption = "* Pareto front of accuracy against trainable parameters" if any(s.get("pareto") for s in summary) else None
    print_rich(to_rich(rows, CONSOLE_COLUMNS, title="peftkit compare", caption=caption), console)
    rest = ", ".join(header for key, header in columns if key not in shown)
    console.print(f"full table ({rest}), every run and the notes: {report_md}", soft_wrap=True, markup=False,
                  highlight=False)


def overlap_line(summary: Sequence[dict]) -> str:
    """The sentence under the summary table that says which accuracy gaps are within one std."""
    if all(s["eval_accuracy_mean"] is None for s in summary):
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
        return "No two strategies' accuracy intervals (mean ± std) overlap."
    return ("Accuracy differences within one std (do not over-read them): " + "; ".join(pairs) + ".")


RUN_COLUMNS = [("strategy", "strategy"), ("seed", "seed"), ("status", "status"), ("eval_accuracy", "accuracy"),
               ("eval_f1_macro", "macro F1"), ("eval_loss", "eval loss"), ("learning_rate", "lr"),
               ("epochs", "epochs"), ("train_seconds", "train s"), ("peak_memory", "peak memory"),
               ("error", "error")]

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
        d["peak_memory"] = human_bytes(_number(r.get("peak_memory_bytes")))
        d["train_seconds"] = None if _number(r.get("train_seconds")) is None else round(r["train_seconds"], 1)
        shown.append(d)
    return shown


def markdown(rows: Sequence[dict], summary: Sequence[dict], title: str, notes: Sequence[str], meta: dict | None) -> str:
    display, columns = summary_table(summary)
    memory_kind = next((s["memory_kind"] for s in summary if s.get("memory_kind")), None)
    parts = [f"# {title}", ""]
    parts += [f"- {n}" for n in notes]
    parts += _meta_lines(meta)
    if memory_kind:
        parts.append(f"- peak memory: {memory_kind} ({MEMORY_KINDS.get(memory_kind, memory_kind)})")
    parts += ["- mean ± std over seeds (one seed: no ±); * marks the Pareto front of accuracy against trainable "
              "parameters; params: trainable parameters at the end of training; grads+optim: gradient and "
              "optimizer-state memory measured at the end of training (frozen parameters have neither); "
              "lr: the learning rate used; estimated: `peftkit estimate`'s peak for the run, made before it started (training "
              "memory only, padded to max-length; compare it with a GPU's cuda_allocated, not with a CPU's process RSS); "
              "MFU: model FLOPs utilisation (GPU only); saved: size of what the strategy must save", "",
              to_markdown(display, columns), overlap_line(summary), "", "## Runs", "",
              to_markdown(_run_display(rows), RUN_COLUMNS), "![accuracy against cost](plot.png)", ""]
    return "\n".join(parts)


# -- plot ----------------------------------------------------------------------------------------

# Offsets (points) tried in turn for a point's label; the first that overlaps nothing wins. Labels in the
# second ring get a thin leader line to their point.
LABEL_OFFSETS = [(7, 5), (7, -13), (-7, 5), (-7, -13), (0, 10), (0, -18)]
FAR_OFFSETS = [(16, 16), (16, -26), (-16, 16), (-16, -26), (28, -4), (-28, -4), (0, 24), (0, -32)]


def _panels(summary: Sequence[dict]) -> list[tuple]:
    kind = next((s["memory_kind"] for s in summary if s.get("memory_kind")), None)
    memory = {"cpu_rss": "peak memory, CPU RSS (MiB)", "cuda_allocated": "peak memory, CUDA allocated (MiB)"}
    return [("trainable_params_mean", 1.0, "trainable parameters (log scale)", "pareto", True,
             "accuracy vs trainable parameters"),
            ("peak_memory_bytes_mean", 1 / 2**20, memory.get(kind, "peak memory (MiB)"), "pareto_memory", False,
             "accuracy vs peak memory")]


def _obstacles(ax, points: Sequence[tuple[float, float, float, str]]) -> list:
    """Pixel boxes of each marker with its error bar."""
    from matplotlib.transforms import Bbox

    boxes = []
    for x, y, err, _ in points:
        (px, low), (_, high) = ax.transData.transform([(x, y - err), (x, y + err)])
        _, py = ax.transData.transform((x, y))
        boxes.append(Bbox([[px - 6, min(low, py - 6)], [px + 6, max(high, py + 6)]]))
    return boxes


def _place_labels(ax, points: list[tuple[float, float, float, str]]) -> None:
    """Direct labels next to each point, avoiding other labels, markers, error bars and the axes edge."""
    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    placed = _obstacles(ax, points)

    def cost(box) -> float:
        inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
        return sum(box.overlaps(b) for b in placed) + 2 * (not inside)

    for x, y, _, name in sorted(points, key=lambda p: -p[1]):
        best = None
        for dx, dy in LABEL_OFFSETS + FAR_OFFSETS:
            text = ax.annotate(name, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=9,
                               ha="left" if dx > 0 else "right" if dx < 0 else "center")
            box = text.get_window_extent(renderer)
            c = cost(box)
            if best is None or c < best[0]:
                if best:
                    best[1].remove()
                best = (c, text, box, (dx, dy))
            else:
                text.remove()
            if c == 0:
                break
        placed.append(best[2])
        if best[3] in FAR_OFFSETS:
            ax.annotate("", (x, y), textcoords="offset points", xytext=best[3],
                        arrowprops={"arrowstyle": "-", "color": "0.45", "lw": 0.7, "shrinkA": 0, "shrinkB": 4})


def _draw_panel(ax, scored: Sequence[dict], panel: tuple) -> list[tuple[float, float, float, str]]:
    key, scale, xlabel, front_key, log, title = panel
    points = [(s[key] * scale, s["eval_accuracy_mean"], s["eval_accuracy_std"] or 0.0, s[front_key], s["strategy"])
              for s in scored if s[key] is not None and (s[key] > 0 or not log)]
    ax.set_title(title, fontsize=12)
    ax.set_xlabel(xlabel, fontsize=10)
    ax.set_ylabel("validation accuracy (mean ± std)", fontsize=10)
    ax.grid(True, alpha=0.3)
    if log:
        ax.set_xscale("log")
    if not points:
        ax.text(0.5, 0.5, "no values recorded for this axis", ha="center", va="center", fontsize=12,
                transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return []
    xs, ys, errs, front, names = zip(*points)
    ax.errorbar(xs, ys, yerr=errs, fmt="none", ecolor="0.6", elinewidth=1, capsize=3, zorder=1)
    off = [i for i, f in enumerate(front) if not f]
    on = sorted((xs[i], ys[i]) for i, f in enumerate(front) if f)
    if off:
        ax.scatter([xs[i] for i in off], [ys[i] for i in off], s=45, color="tab:blue", label="not on the front", zorder=3)
    if on:  # empty only if the front's points cannot be drawn here (0 on a log axis)
        ax.plot(*zip(*on), color="tab:red", marker="o", markersize=8, linewidth=1.5, label="Pareto front", zorder=4)
    if len(set(xs)) > 1:  # one x value: let matplotlib pick a range around it
        ax.margins(x=0.12, y=0.1)
    ax.legend(loc="lower right", fontsize=9, framealpha=0.9)
    return list(zip(xs, ys, errs, names))


def _no_runs(fig, axes) -> None:
    for ax in axes:
        ax.set_axis_off()
    fig.text(0.5, 0.5, "no successful runs: nothing to plot\n(see the errors in report.md)",
             ha="center", va="center", fontsize=16)


def _save_atomic(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp.png")  # savefig creates it, umask applies
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def plot(summary: Sequence[dict], path: str | Path) -> Path:
    """PNG: accuracy against trainable parameters and against peak memory, one labelled point per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    scored = [s for s in summary if s["eval_accuracy_mean"] is not None]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), dpi=110, constrained_layout=True)
    try:
        if not scored:
            _no_runs(fig, axes)
        else:
            labels = [_draw_panel(ax, scored, panel) for ax, panel in zip(axes, _panels(summary))]
            fig.canvas.draw()  # fix the layout, then place labels in its final pixel coordinates
            fig.set_layout_engine("none")
            for ax, points in zip(axes, labels):
                _place_labels(ax, points)
        _save_atomic(fig, path)
    finally:
        plt.close(fig)
    return path


# -- files ---------------------------------------------------------------------------------------

def _finite(value: Any) -> Any:
    """NaN and infinity (a diverged loss) as null, so results.json is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


CSV_COLUMNS = [(k, k) for k in ("strategy", "status", "n_ok", "n_runs")] + \
    [(f"{m}_{x}", f"{m}_{x}") for m in METRICS for x in ("mean", "std")] + [("pareto", "pareto"), ("errors", "errors")]


def write_reports(rows: Sequence[dict], out_dir: str | Path, *, title: str = "peftkit compare",
                  notes: Sequence[str] = (), meta: dict | None = None) -> dict[str, Path]:
    """report.md, results.csv, results.json and plot.png in out_dir, each written atomically."""
    out = Path(out_dir)
    summary = aggregate(rows)
    paths = {"md": out / "report.md", "csv": out / "results.csv", "json": out / "results.json", "plot": out / "plot.png"}
    plot(summary, paths["plot"])
    atomic_write_text(paths["md"], markdown(rows, summary, title, notes, meta))
    atomic_write_text(paths["csv"], to_csv(summary, CSV_COLUMNS))
    document = _finite({"summary": summary, "runs": list(rows), "meta": meta, "notes": list(notes)})
    atomic_write_text(paths["json"], json.dumps(document, indent=2, default=str, allow_nan=False) + "\n")
    return paths
