import csv
import json
import math

import pytest

from peftkit.report import (CSV_COLUMNS, METRICS, aggregate, human_bytes, overlap_line, pareto_front, plot,
                            summary_table, write_reports)
from peftkit.tables import to_markdown, to_rich

PNG = b"\x89PNG\r\n\x1a\n"


def run(strategy, seed, acc, params, memory=2**30, status="ok", error=None, **extra):
    return {"strategy": strategy, "seed": seed, "status": status, "error": error, "eval_accuracy": acc,
            "eval_f1_macro": acc, "trainable_params": params, "peak_memory_bytes": memory, "train_seconds": 10.0,
            "trainable_percent": 1.0, "memory_kind": "cpu_rss", **extra}


ROWS = [run("full", 0, 0.90, 1000), run("full", 1, 0.92, 1000), run("lora", 0, 0.91, 10), run("lora", 1, 0.91, 10),
        run("head", 0, 0.80, 1), run("head", 1, None, 1, status="failed", error="boom")]


def by_name(rows):
    return {s["strategy"]: s for s in aggregate(rows)}


# -- aggregate -----------------------------------------------------------------------------------

def test_aggregate_mean_std_and_status():
    summary = by_name(ROWS)
    assert summary["full"]["eval_accuracy_mean"] == pytest.approx(0.91)
    assert summary["full"]["eval_accuracy_std"] == pytest.approx(0.0141421, rel=1e-4)
    assert summary["lora"]["eval_accuracy_std"] == 0.0
    assert summary["head"]["status"] == "1/2 ok; 1 failed" and summary["head"]["errors"] == "boom"
    assert "lora" in summary["full"]["overlaps"] and "head" not in summary["full"]["overlaps"]
    assert summary["lora"]["pareto"] and summary["head"]["pareto"] and not summary["full"]["pareto"]


def test_aggregate_three_seeds_by_hand():
    # accuracy 0.90, 0.91, 0.95: mean 0.92; deviations -0.02, -0.01, 0.03 -> var (4+1+9)e-4 / 2 = 7e-4
    # params 100, 200, 600: mean 300; deviations -200, -100, 300 -> var (4+1+9)e4 / 2 = 7e4
    rows = [run("x", 0, 0.90, 100), run("x", 1, 0.91, 200), run("x", 2, 0.95, 600)]
    (s,) = aggregate(rows)
    assert (s["n_ok"], s["n_runs"], s["status"]) == (3, 3, "ok")
    assert s["eval_accuracy_mean"] == pytest.approx(0.92)
    assert s["eval_accuracy_std"] == pytest.approx(math.sqrt(7e-4))
    assert s["trainable_params_mean"] == pytest.approx(300)
    assert s["trainable_params_std"] == pytest.approx(math.sqrt(7e4))
    for metric in METRICS:
        assert f"{metric}_mean" in s and f"{metric}_std" in s


def test_aggregate_uses_ok_runs_only_and_skips_missing_values():
    rows = [run("x", 0, 0.80, 10, eval_loss=0.5), run("x", 1, 0.60, 10, eval_loss=None),
            run("x", 2, 0.10, 10, status="diverged", error="loss is nan", eval_loss=float("nan")),
            run("x", 3, None, None, status="failed", error="loss is nan"),
            run("x", 4, None, None, status="failed", error="OOM")]
    (s,) = aggregate(rows)
    assert s["eval_accuracy_mean"] == pytest.approx(0.70)  # the diverged run's 0.10 is not averaged in
    assert s["eval_loss_mean"] == 0.5 and s["eval_loss_std"] == 0.0  # one value: std 0, the None run skipped
    assert s["head_params_mean"] is None and s["head_params_std"] is None  # no ok run has it
    assert s["status"] == "2/5 ok; 1 diverged, 2 failed"
    assert s["errors"] == "loss is nan; OOM"  # distinct, first-appearance order


def test_aggregate_no_ok_runs_and_order():
    rows = [run("b", 0, None, None, status="unsupported", error="no bias"), run("a", 0, 0.5, 5),
            run("b", 1, None, None, status="unsupported", error="no bias")]
    summary = aggregate(rows)
    assert [s["strategy"] for s in summary] == ["b", "a"]
    b = summary[0]
    assert (b["n_ok"], b["n_runs"], b["status"], b["errors"]) == (0, 2, "unsupported", "no bias")
    assert b["eval_accuracy_mean"] is None and b["eval_accuracy_std"] is None
    assert b["pareto"] is False and b["overlaps"] == []
    assert summary[1]["pareto"] and summary[1]["eval_accuracy_std"] == 0.0


def test_aggregate_keeps_two_settings_of_one_strategy_apart():
    """A store that kept the runs of earlier defaults: the old and new rates are two rows, never one mean."""
    rows = [run("full", 0, 0.80, 10, learning_rate=5e-5, epochs=3), run("full", 1, 0.82, 10, learning_rate=5e-5, epochs=3),
            run("full", 0, 0.90, 10, learning_rate=1e-4, epochs=3), run("lora", 0, 0.85, 5, learning_rate=1e-3, epochs=3),
            run("head", 0, 0.7, 1, learning_rate=5e-3, epochs=20), run("head", 1, 0.75, 1, learning_rate=5e-3, epochs=10)]
    summary = by_name(rows)
    assert set(summary) == {"full (lr 5e-05)", "full (lr 0.0001)", "lora", "head (20 ep)", "head (10 ep)"}
    assert summary["full (lr 5e-05)"]["eval_accuracy_mean"] == pytest.approx(0.81)
    assert summary["full (lr 0.0001)"]["n_runs"] == 1


def test_aggregate_empty():
    assert aggregate([]) == []


def test_overlaps_are_symmetric():
    # a: 0.85 ± 0.0707 = [0.779, 0.921]; b: 0.92 ± 0.0283 = [0.892, 0.948]; c: 0.98 ± 0 overlaps nobody
    rows = [run("a", 0, 0.80, 1), run("a", 1, 0.90, 1), run("b", 0, 0.90, 2), run("b", 1, 0.94, 2),
            run("c", 0, 0.98, 3), run("c", 1, 0.98, 3)]
    s = by_name(rows)
    assert s["a"]["overlaps"] == ["b"] and s["b"]["overlaps"] == ["a"] and s["c"]["overlaps"] == []


def test_pareto_flags_ignore_missing_costs():
    rows = [run("known", 0, 0.8, 100, memory=None), run("unknown", 0, 0.9, None, memory=None)]
    s = by_name(rows)
    assert s["known"]["pareto"] and not s["unknown"]["pareto"]  # no params: not treated as free
    assert not s["known"]["pareto_memory"] and not s["unknown"]["pareto_memory"]


# -- pareto_front --------------------------------------------------------------------------------

def test_pareto_front():
    points = [("a", 1, 0.5), ("b", 2, 0.7), ("c", 3, 0.6), ("d", 2, 0.7)]
    assert pareto_front(points) == {"a", "b", "d"}  # b and d tie: neither strictly beats the other


def test_pareto_front_hand_made():
    points = [("head", 1e3, 0.84), ("bitfit", 1e5, 0.88), ("prefix", 3e5, 0.86), ("lora", 3e5, 0.90),
              ("adapter", 9e5, 0.90), ("gradual", 1e7, 0.89), ("full", 1e8, 0.92), ("same-cost-worse", 1e3, 0.80)]
    assert pareto_front(points) == {"head", "bitfit", "lora", "full"}
    assert pareto_front([]) == set()
    assert pareto_front([("only", 5, 0.1)]) == {"only"}


# -- display -------------------------------------------------------------------------------------

def test_summary_table():
    rows = ROWS + [run("big", 0, 0.5, 12_345_678, memory=3 * 2**30), run("big", 1, 0.7, 12_345_678, memory=3 * 2**30)]
    display, columns = summary_table(aggregate(rows))
    keys = [k for k, _ in columns]
    for key in ("strategy", "status", "trainable", "percent", "memory", "seconds", "samples", "accuracy", "f1"):
        assert key in keys
    big = display[-1]
    assert big["accuracy"] == "0.600 ± 0.141" and big["memory"] == "3.0 GiB" and big["percent"] == "1%"
    assert "12,345,678" in to_markdown(display, columns)
    head = display[2]
    assert head["strategy"] == "head *" and head["accuracy"] == "0.800"  # one ok run: no ±
    assert to_rich(display, columns).row_count == 4


def test_human_bytes():
    assert human_bytes(None) == "" and human_bytes(512) == "512 B" and human_bytes(1536) == "1.5 KiB"
    assert human_bytes(300 * 2**20) == "300.0 MiB" and human_bytes(2.5 * 2**30) == "2.5 GiB"


def test_overlap_line_variants():
    assert overlap_line(aggregate(ROWS)).startswith("Accuracy differences within one std")
    assert "full ~ lora" in overlap_line(aggregate(ROWS))
    assert overlap_line(aggregate([run("a", 0, 0.5, 1), run("b", 0, 0.6, 1)])).startswith("One seed")
    apart = [run("a", 0, 0.5, 1), run("a", 1, 0.5, 1), run("b", 0, 0.9, 1), run("b", 1, 0.9, 1)]
    assert overlap_line(aggregate(apart)).startswith("No two")
    assert overlap_line(aggregate([run("a", 0, None, 1, status="failed")])).startswith("No successful runs")


# -- files ---------------------------------------------------------------------------------------

def test_write_reports(tmp_path):
    meta = {"device": "cpu", "torch": "2.5.0", "peft": "0.17.0"}
    paths = write_reports(ROWS, tmp_path, notes=["a note"], meta=meta)
    assert set(paths) == {"md", "csv", "json", "plot"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png", "report.md", "results.csv", "results.json"]

    md = paths["md"].read_text()
    for text in ("# peftkit compare", "- a note", "device: cpu", "torch 2.5.0", "0.910 ± 0.014", "0.910 ± 0.000",
                 "boom", "full ~ lora", "1.0 GiB", "![accuracy against cost](plot.png)", "## Runs"):
        assert text in md, text
    assert md.index("0.910 ± 0.014") < md.index("full ~ lora") < md.index("## Runs") < md.index("boom")

    with open(paths["csv"], newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        lines = list(reader)
    assert header == [k for k, _ in CSV_COLUMNS]
    table = [dict(zip(header, line)) for line in lines]
    assert [r["strategy"] for r in table] == ["full", "lora", "head"]
    assert float(table[0]["eval_accuracy_mean"]) == pytest.approx(0.91)
    assert float(table[0]["eval_accuracy_std"]) == pytest.approx(0.0141421, rel=1e-4)
    assert float(table[0]["trainable_params_mean"]) == 1000 and table[2]["status"] == "1/2 ok; 1 failed"

    data = json.loads(paths["json"].read_text())
    assert data["summary"] == json.loads(json.dumps(aggregate(ROWS)))
    assert data["runs"] == ROWS and data["meta"] == meta and data["notes"] == ["a note"]

    png = paths["plot"].read_bytes()
    assert png[:8] == PNG and len(png) > 10_000


def test_write_reports_is_strict_json_with_nan(tmp_path):
    rows = [run("x", 0, 0.5, 1, eval_loss=float("nan"), status="diverged", error="nan loss"), run("x", 1, 0.6, 1)]
    paths = write_reports(rows, tmp_path / "new" / "dir")

    def refuse(name):
        raise ValueError(name)

    data = json.loads(paths["json"].read_text(), parse_constant=refuse)
    assert data["runs"][0]["eval_loss"] is None and data["meta"] is None and data["notes"] == []


def test_write_reports_overwrites_atomically(tmp_path):
    write_reports(ROWS, tmp_path)
    paths = write_reports(ROWS[:2], tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png", "report.md", "results.csv", "results.json"]
    assert "lora" not in paths["csv"].read_text()


def test_plot_is_a_png(tmp_path):
    rows = [run(name, seed, acc + 0.005 * seed, params, memory=mem * 2**20)
            for name, acc, params, mem in [("full", 0.91, 10**8, 5000), ("lora", 0.90, 3 * 10**5, 3000),
                                            ("head", 0.84, 1500, 1400), ("prompt", 0.80, 2 * 10**4, 3100)]
            for seed in range(3)]
    path = plot(aggregate(rows), tmp_path / "sub" / "p.png")
    data = path.read_bytes()
    assert path.name == "p.png" and data[:8] == PNG and len(data) > 10_000
    assert [p.name for p in path.parent.iterdir()] == ["p.png"]  # no temp file left behind


def test_all_failed(tmp_path):
    rows = [run("x", 0, None, 1, status="failed", error="CUDA out of memory"),
            run("y", 0, None, None, status="unsupported", error="no attention modules")]
    paths = write_reports(rows, tmp_path)
    assert paths["plot"].read_bytes()[:8] == PNG
    md = paths["md"].read_text()
    assert "failed" in md and "CUDA out of memory" in md and "No successful runs" in md
    data = json.loads(paths["json"].read_text())
    assert [s["eval_accuracy_mean"] for s in data["summary"]] == [None, None]
    assert len(paths["csv"].read_text().splitlines()) == 3


def test_single_seed_and_missing_memory(tmp_path):
    rows = [run("head", 0, 0.8, 770, memory=None), run("lora", 0, 0.85, None, memory=None)]
    paths = write_reports(rows, tmp_path)
    md = paths["md"].read_text()
    assert "One seed per strategy" in md and "0.850" in md and "±  " not in md
    assert paths["plot"].read_bytes()[:8] == PNG
    assert by_name(rows)["head"]["eval_accuracy_std"] == 0.0
