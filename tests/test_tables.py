"""Console tables stay readable at any width: off a terminal (a log file, CI, `| tee`) rich would assume 80
columns; no cell may ever be cut with an ellipsis, and the compare table's names and accuracies read whole."""

import io
import json
import os
import statistics
import subprocess
import sys

import pytest
from rich.console import Console

from peftkit.report import CONSOLE_COLUMNS, aggregate, print_summary, summary_table
from peftkit.store import ResultStore
from peftkit.tables import WIDE, offterminal_width, print_rich, to_csv, to_json, to_markdown, to_rich

STRATEGIES = ["full", "head", "gradual", "lora:r=16,alpha=32.0", "prefix", "prompt:num_virtual_tokens=40",
              "adapter:variant=pfeiffer"]
SEEDS = (0, 1)


def accuracy(i: int, seed: int) -> float:
    return round(0.6 + 0.037 * i + 0.011 * seed * (i % 3), 4)


def record(i: int, strategy: str, seed: int) -> dict:
    ok = strategy != "prefix"
    train = {"status": "ok" if ok else "failed", "error": None if ok else "TypeError: " + "x" * 200,
             "trainable_params": 22_713_986 // 10**i, "total_params": 22_713_986, "trainable_percent": 100 / 10**i,
             "peak_memory_bytes": 1_300_000_000 - i * 10**7, "memory_kind": "cpu_rss", "train_seconds": 123.456 + i,
             "train_samples_per_second": 66.6, "gradient_bytes": 9 * 10**6, "optimizer_state_bytes": 18 * 10**6,
             "eval_f1_macro": accuracy(i, seed) - 0.001, "checkpoint_bytes": 90 * 10**6}
    if ok:
        train["eval_accuracy"] = accuracy(i, seed)
    config = {"strategy": strategy, "seed": seed, "learning_rate": 1e-3 * (i + 1), "epochs": 3}
    return {"run_info": {"run_id": f"{i}-{seed}", "order": i * 10 + seed, "config": config}, "train_info": train,
            "meta_info": {"device": "CPU", "torch": "2.13"}}


def expected_accuracies() -> dict[str, str]:
    """'mean ± std' as the table must show it, computed here from the numbers, not by peftkit."""
    out = {}
    for i, strategy in enumerate(STRATEGIES):
        if strategy != "prefix":
            values = [accuracy(i, s) for s in SEEDS]
            out[strategy] = f"{statistics.fmean(values):.3f} ± {statistics.stdev(values):.3f}"
    return out


@pytest.fixture
def store(tmp_path):
    store = ResultStore(tmp_path / "out")
    store.prepare({"model": "m", "dataset": "d"})
    for i, strategy in enumerate(STRATEGIES):
        for seed in SEEDS:
            store.write(f"{i}-{seed}", record(i, strategy, seed))
    return store


def rows(store):
    from peftkit.compare_records import rows_from_store

    return rows_from_store(store)


def assert_whole(text: str, short_names: bool = False) -> None:
    assert "…" not in text
    for strategy in STRATEGIES:
        assert (strategy.split(":")[0] if short_names else strategy) in text, strategy
    for strategy, value in expected_accuracies().items():
        assert value in text, (strategy, value)


def table_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line[:1] in "┏┃┡│└"]


def env80() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    return {**env, "COLUMNS": "80"}


def run_cli(tmp_path, *args) -> str:
    """The real CLI with stdout redirected to a file, as in a log or CI."""
    path = tmp_path / "stdout.txt"
    with open(path, "w") as f:
        p = subprocess.run([sys.executable, "-m", "peftkit", *args], stdout=f, stderr=subprocess.PIPE, text=True,
                           env=env80(), timeout=300)
    assert p.returncode == 0, p.stderr
    return path.read_text()


def test_report_console_table_to_a_file_at_80_columns(store, tmp_path):
    text = run_cli(tmp_path, "report", str(store.directory))
    assert_whole(text)
    assert "report.md" in text and "F1" in text  # says which columns it left out and where they are
    assert "TypeError" not in text  # errors are in report.md, not squeezed into the console
    assert "xxx" in (store.directory / "report.md").read_text()


def core_names(summary):
    for s in summary:
        s["strategy"] = s["strategy"].split(":")[0]  # full, head, ..., adapter: what `compare` runs by default
    return summary


def test_print_summary_off_a_terminal_at_80_columns(store):
    out = io.StringIO()
    print_summary(aggregate(rows(store)), "out/report.md", Console(file=out, width=80))
    assert_whole(out.getvalue())


def test_the_core_strategies_fit_an_80_column_terminal(store):
    out = io.StringIO()
    terminal = Console(file=out, width=80, force_terminal=True, color_system=None)
    print_summary(core_names(aggregate(rows(store))), "out/report.md", terminal)
    text = out.getvalue()
    assert_whole(text, short_names=True)
    assert max(len(line) for line in table_lines(text)) <= 80


@pytest.mark.parametrize("width", [20, 40, 60])
def test_narrow_terminals_fold_never_cut(store, width):
    out = io.StringIO()
    terminal = Console(file=out, width=width, force_terminal=True, color_system=None)
    print_summary(aggregate(rows(store)), "out/report.md", terminal)
    assert "…" not in out.getvalue() and "full" in out.getvalue()


def test_the_full_table_off_a_terminal_keeps_every_cell_whole(store):
    display, columns = summary_table(aggregate(rows(store)))
    assert len(columns) > len(CONSOLE_COLUMNS)
    out = io.StringIO()
    print_rich(to_rich(display, columns, title="peftkit compare"), Console(file=out, width=80))
    text = out.getvalue()
    assert_whole(text)
    cells = {f"{v:,}" if isinstance(v, int) else str(v) for row in display for v in (row[k] for k, _ in columns)}
    lines = table_lines(text)
    for cell in cells - {"", "None"}:  # each cell on one line of the table, not folded over two
        assert any(cell in line for line in lines), cell


def test_compare_summary_of_failed_and_single_seed_runs():
    summary = aggregate([{"strategy": "prefix", "seed": 0, "status": "failed", "error": "boom"},
                         {"strategy": "lora", "seed": 0, "status": "ok", "eval_accuracy": 0.8125}])
    out = io.StringIO()
    print_summary(summary, "r.md", Console(file=out, width=80))
    assert "failed" in out.getvalue() and "0.812" in out.getvalue() and "±" not in out.getvalue()


def test_list_and_params_tables_to_a_file_are_never_cut(tmp_path):
    text = run_cli(tmp_path, "list")
    assert "…" not in text
    for name in ("full", "gradual", "adapter", "bitfit", "lr_decay=0.3846153846153846"):
        assert name in text, name
    text = run_cli(tmp_path, "params", "--format", "table")
    assert "…" not in text
    rows = json.loads(run_cli(tmp_path, "params", "--format", "json"))
    for row in rows:
        assert row["strategy"] in text
        if row.get("trainable_params") is not None:
            assert f"{row['trainable_params']:,}" in text


# -- peftkit/tables.py on its own: each format, cell by cell ----------------------------------------

CELLS = [{"name": "a|b", "count": 1_234_567, "ratio": 0.123456, "ok": True, "none": None, "big": 12_345.6},
         {"name": "c", "count": 2, "ratio": 3.0, "ok": False, "none": None, "big": None}]
CELL_COLUMNS = [("name", "name"), ("count", "count"), ("ratio", "ratio"), ("ok", "ok"), ("none", "none"),
                ("big", "big")]


def test_markdown_escapes_pipes_and_right_aligns_numeric_columns():
    assert to_markdown(CELLS, CELL_COLUMNS) == (
        "| name | count | ratio | ok | none | big |\n"
        "|---|---:|---:|---|---|---:|\n"  # numbers right; bools, text and empty columns left
        "| a\\|b | 1,234,567 | 0.1235 | true |  | 12,346 |\n"
        "| c | 2 | 3 | false |  |  |\n")


def test_markdown_escapes_pipes_in_headers_too():
    assert to_markdown([{"k": 1}], [("k", "mean | std")]).splitlines()[0] == "| mean \\| std |"


def test_a_column_with_any_text_is_not_numeric():
    table = to_markdown([{"v": 1}, {"v": "n/a"}, {"v": None}], [("v", "value")])
    assert table.splitlines()[1] == "|---|"


def test_csv_keeps_raw_values_under_the_keys():
    assert to_csv(CELLS, CELL_COLUMNS) == ("name,count,ratio,ok,none,big\n"
                                           "a|b,1234567,0.123456,True,,12345.6\n"
                                           "c,2,3.0,False,,\n")
    assert to_csv([{"text": 'say "hi", twice'}], [("text", "Text")]) == 'text\n"say ""hi"", twice"\n'


def test_json_is_every_key_of_every_row(tmp_path):
    assert json.loads(to_json(CELLS)) == CELLS
    assert json.loads(to_json([{"path": tmp_path}])) == [{"path": str(tmp_path)}]  # what JSON lacks becomes text
    assert to_json([]) == "[]\n"


def test_off_a_terminal_a_table_prints_at_its_natural_width_up_to_WIDE():
    row = {f"column{i}": f"value-{i}-" + "x" * 6 for i in range(8)}  # about 150 columns: wider than 80
    table = to_rich([row], [(k, k) for k in row])
    console = Console(file=io.StringIO(), width=80)
    width = offterminal_width(table, console)
    assert 80 < width <= WIDE
    print_rich(table, console)
    assert console.width == 80  # restored
    lines = table_lines(console.file.getvalue())
    assert max(len(line) for line in lines) == width
    for value in row.values():  # every cell on one line
        assert any(value in line for line in lines), value


def test_off_a_terminal_prose_wraps_between_words_never_inside_one():
    words = [f"word{i:03d}" for i in range(60)]  # 480 characters: wider than WIDE, so it wraps
    table = to_rich([{"name": "lora", "error": " ".join(words)}], [("name", "name"), ("error", "error")])
    console = Console(file=io.StringIO(), width=12)  # where rich alone would fold every word ("wor", "d00", "0")
    print_rich(table, console)
    lines = table_lines(console.file.getvalue())
    assert max(len(line) for line in lines) == WIDE and len(lines) > 5
    text = " ".join(lines)
    for word in words:
        assert word in text, word


def test_off_a_terminal_one_long_name_is_never_folded():
    name = "adapter:variant=pfeiffer,reduction_factor=8,activation=gelu," + "x" * 150  # one word, wider than WIDE
    table = to_rich([{"strategy": name, "accuracy": 0.8125}], [("strategy", "strategy"), ("accuracy", "accuracy")])
    console = Console(file=io.StringIO(), width=80)
    assert offterminal_width(table, console) > WIDE
    print_rich(table, console)
    assert any(name in line for line in table_lines(console.file.getvalue()))
