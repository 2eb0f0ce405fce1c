"""plot.png: the report's metric against trainable parameters and against peak memory, one directly labelled
point per strategy, the Pareto front drawn through."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .output import atomic_path
from .report_metric import ACCURACY, Metric

DPI = 110

# Offsets (points) tried in turn for a point's label; the first that overlaps nothing wins. Labels in the
# second ring get a thin leader line to their point.
LABEL_OFFSETS = [(7, 5), (7, -13), (-7, 5), (-7, -13), (0, 10), (0, -18)]
FAR_OFFSETS = [(16, 16), (16, -26), (-16, 16), (-16, -26), (28, -4), (-28, -4), (0, 24), (0, -32)]


def _panels(summary: Sequence[dict], metric: Metric) -> list[tuple]:
    kind = next((s["memory_kind"] for s in summary if s.get("memory_kind")), None)
    memory = {"cpu_rss": "peak memory, CPU RSS (MiB)", "cuda_allocated": "peak memory, CUDA allocated (MiB)"}
    return [("trainable_params_mean", 1.0, "trainable parameters (log scale)", "pareto", True,
             f"{metric.label} vs trainable parameters"),
            ("peak_memory_bytes_mean", 1 / 2**20, memory.get(kind, "peak memory (MiB)"), "pareto_memory", False,
             f"{metric.label} vs peak memory")]


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


def _draw_panel(ax, scored: Sequence[dict], panel: tuple, metric: Metric) -> list[tuple[float, float, float, str]]:
    key, scale, xlabel, front_key, log, title = panel
    mean, std = f"{metric.key}_mean", f"{metric.key}_std"
    points = [(s[key] * scale, s[mean], s[std] or 0.0, s[front_key], s["strategy"])
              for s in scored if s[key] is not None and (s[key] > 0 or not log)]
    ax.set_title(title, fontsize=12)
    ax.set_xlabel(xlabel, fontsize=10)
    ax.set_ylabel(f"validation {metric.label} (mean ± std)", fontsize=10)
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


def plot(summary: Sequence[dict], path: str | Path, metric: Metric = ACCURACY) -> Path:
    """PNG: the metric against trainable parameters and against peak memory, one labelled point per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    scored = [s for s in summary if s[f"{metric.key}_mean"] is not None]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), dpi=DPI, constrained_layout=True)
    try:
        if not scored:
            _no_runs(fig, axes)
        else:
            labels = [_draw_panel(ax, scored, panel, metric) for ax, panel in zip(axes, _panels(summary, metric))]
            fig.canvas.draw()  # fix the layout, then place labels in its final pixel coordinates
            fig.set_layout_engine("none")
            for ax, points in zip(axes, labels):
                _place_labels(ax, points)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=DPI, format="png")  # the temporary name has no extension to tell it
    finally:
        plt.close(fig)
    return path
