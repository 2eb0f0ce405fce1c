import csv
import json

import pytest

from peftkit.report import aggregate, pareto_front, write_reports


def run(strategy, seed, acc, params, memory=2**30, status="ok", error=None):
    return {"strategy": strategy, "seed": seed, "status": status, "error": error, "eval_accuracy": acc,
            "eval_f1_macro": acc, "trainable_params": params, "peak_memory_bytes": memory, "train_seconds": 10.0,
            "trainable_percent": 1.0, "memory_kind": "cpu_rss"}


ROWS = [run("full", 0, 0.90, 1000), run("full", 1, 0.92, 1000), run("lora", 0, 0.91, 10), run("lora", 1, 0.91, 10),
        run("head", 0, 0.80, 1), run("head", 1, None, 1, status="failed", error="boom")]


def test_aggregate_mean_std_and_status():
    summary = {s["strategy"]: s for s in aggregate(ROWS)}
    assert summary["full"]["eval_accuracy_mean"] == pytest.approx(0.91)
    assert summary["full"]["eval_accuracy_std"] == pytest.approx(0.0141421, rel=1e-4)
    assert summary["lora"]["eval_accuracy_std"] == 0.0
    assert summary["head"]["status"] == "1/2 ok; 1 failed" and summary["head"]["errors"] == "boom"
    assert "lora" in summary["full"]["overlaps"] and "head" not in summary["full"]["overlaps"]
    assert summary["lora"]["pareto"] and summary["head"]["pareto"] and not summary["full"]["pareto"]


def test_pareto_front():
    points = [("a", 1, 0.5), ("b", 2, 0.7), ("c", 3, 0.6), ("d", 2, 0.7)]
    assert pareto_front(points) == {"a", "b", "d"}


def test_write_reports(tmp_path):
    paths = write_reports(ROWS, tmp_path, notes=["a note"], meta={"device": "cpu"})
    md = paths["md"].read_text()
    for text in ("0.910 ± 0.014", "boom", "a note", "full ~ lora", "![accuracy against cost](plot.png)"):
        assert text in md
    with open(paths["csv"]) as f:
        table = list(csv.DictReader(f))
    assert [r["strategy"] for r in table] == ["full", "lora", "head"]
    assert float(table[0]["eval_accuracy_mean"]) == pytest.approx(0.91)
    data = json.loads(paths["json"].read_text())
    assert len(data["runs"]) == 6 and data["meta"] == {"device": "cpu"}
    png = paths["plot"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_all_failed(tmp_path):
    paths = write_reports([run("x", 0, None, 1, status="failed", error="e")], tmp_path)
    assert paths["plot"].read_bytes()[:4] == b"\x89PNG" and "failed" in paths["md"].read_text()
