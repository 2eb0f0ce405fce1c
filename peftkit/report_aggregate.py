"""A comparison's runs summarised: mean and std over seeds per strategy and setting, the Pareto fronts of the
report's metric against trainable parameters and against peak memory, and which strategies' intervals overlap."""

from __future__ import annotations

import math
import statistics
from typing import Any, Sequence

from .report_metric import ACCURACY, Metric, aggregated_fields

METRICS = aggregated_fields(ACCURACY)  # the fields a classification report averages


def number(value: Any) -> float | None:
    """``value`` as a float when it is a finite number (not a bool), else None."""
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


def _status(runs: Sequence[dict], n_ok: int) -> str:
    """"ok", the one status all runs share, or "2/3 ok; 1 failed"."""
    counts: dict[str, int] = {}
    for r in runs:
        counts[str(r.get("status"))] = counts.get(str(r.get("status")), 0) + 1
    if not n_ok and len(counts) == 1:
        return next(iter(counts))
    return "ok" if n_ok == len(runs) else \
        f"{n_ok}/{len(runs)} ok; " + ", ".join(f"{n} {s}" for s, n in counts.items() if s != "ok")


def _summarise(strategy: str, runs: Sequence[dict], fields: Sequence[str]) -> dict[str, Any]:
    ok = [r for r in runs if r.get("status") == "ok"]
    item: dict[str, Any] = {"strategy": strategy, "n_ok": len(ok), "n_runs": len(runs),
                            "status": _status(runs, len(ok)),
                            "errors": "; ".join(dict.fromkeys(str(r["error"]) for r in runs if r.get("error")))}
    for field in fields:
        values = [v for v in (number(r.get(field)) for r in ok) if v is not None]
        item[f"{field}_mean"] = statistics.fmean(values) if values else None
        item[f"{field}_std"] = (statistics.stdev(values) if len(values) > 1 else 0.0) if values else None
    item["memory_kind"] = next((r.get("memory_kind") for r in ok if r.get("memory_kind")), None)
    return item


def aggregate(rows: Sequence[dict], metric: Metric = ACCURACY) -> list[dict]:
    """One summary per strategy and setting (first-appearance order): mean and std over its ok runs, ranked by
    ``metric`` (its Pareto fronts and overlaps)."""
    groups: dict[str, list[dict]] = {}
    for row, name in zip(rows, _group_names(rows)):
        groups.setdefault(name, []).append(row)
    fields = aggregated_fields(metric)
    summary = [_summarise(strategy, runs, fields) for strategy, runs in groups.items()]
    _mark_pareto_and_overlaps(summary, metric)
    return summary


def _front_by(summary: Sequence[dict], cost_key: str, score: str) -> set[str]:
    """Pareto front of the score against one cost; strategies missing either value are not on it."""
    return pareto_front([(s["strategy"], s[cost_key], s[score]) for s in summary
                         if s[score] is not None and s[cost_key] is not None])


def _interval(s: dict, key: str) -> tuple[float, float]:
    return s[f"{key}_mean"] - s[f"{key}_std"], s[f"{key}_mean"] + s[f"{key}_std"]


def _mark_pareto_and_overlaps(summary: list[dict], metric: Metric) -> None:
    mean = f"{metric.key}_mean"
    scored = [s for s in summary if s[mean] is not None]
    by_params = _front_by(summary, "trainable_params_mean", mean)
    by_memory = _front_by(summary, "peak_memory_bytes_mean", mean)
    for s in summary:
        s["pareto"] = s["strategy"] in by_params
        s["pareto_memory"] = s["strategy"] in by_memory
        s["overlaps"] = []
        if s[mean] is None:
            continue
        low, high = _interval(s, metric.key)
        s["overlaps"] = [o["strategy"] for o in scored
                         if o is not s and _interval(o, metric.key)[0] <= high and low <= _interval(o, metric.key)[1]]
