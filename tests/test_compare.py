"""`peftkit compare` end to end on a tiny model and a subset of the demo's SST-2 slice, through the real CLI."""

import json
import subprocess
import sys

import pytest
from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

from peftkit import demo

METRICS = ["strategy", "seed", "status", "error", "trainable_params", "total_params", "trainable_percent",
           "peak_memory_bytes", "memory_kind", "model_memory_bytes", "train_seconds", "train_samples_per_second",
           "train_tokens_per_second", "eval_accuracy", "eval_f1_macro", "eval_precision_macro", "eval_recall_macro",
           "eval_loss", "checkpoint_bytes"]


def peftkit(*args, timeout=600):
    p = subprocess.run([sys.executable, "-m", "peftkit", *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("assets")
    data = demo.write_dataset(root / "data", n_train=64, n_eval=32)
    bert = demo.write_tiny_model(root / "bert")
    llama = root / "llama"
    tokenizer = AutoTokenizer.from_pretrained(bert)
    LlamaForSequenceClassification(LlamaConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, intermediate_size=64, pad_token_id=tokenizer.pad_token_id)).save_pretrained(llama)
    tokenizer.save_pretrained(llama)
    return root, data, bert, llama


@pytest.mark.canary  # the canary's one tiny compare
def test_compare_runs_reports_and_resumes(assets):
    root, data, bert, _ = assets
    out = root / "out"
    args = ["compare", "--model", str(bert), "--dataset", str(data), "-s", "head", "-s", "lora:r=4", "-s", "adapter",
            "--seeds", "0,1", "--epochs", "1", "--max-length", "16", "--output", str(out)]
    code, text = peftkit(*args)
    assert code == 0, text
    records = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    assert len(records) == 6
    for r in records:
        assert set(r) == {"run_info", "train_info", "meta_info"}
        assert r["train_info"]["status"] == "ok", r["train_info"]
        assert r["train_info"]["memory_kind"] == "cpu_rss" and r["train_info"]["peak_memory_bytes"] > 0
        assert 0 <= r["train_info"]["eval_accuracy"] <= 1
        assert r["meta_info"]["torch"] and r["meta_info"]["transformers"] and r["meta_info"]["device"]
        assert r["run_info"]["config"]["learning_rate"] > 0  # resolved from the strategy's defaults
    rates = {r["run_info"]["config"]["strategy"]: r["run_info"]["config"]["learning_rate"] for r in records}
    assert rates["head"] != rates["lora:r=4"]
    for name in ("report.md", "results.csv", "results.json", "plot.png"):
        assert (out / name).stat().st_size > 0
    summary = json.loads((out / "results.json").read_text())
    assert [s["strategy"] for s in summary["summary"]] == ["head", "lora:r=4", "adapter"]
    assert "…" not in text and "report.md" in text  # the console table, piped: every cell whole, never cut
    for s in summary["summary"]:
        assert s["strategy"] in text and f"{s['eval_accuracy_mean']:.3f} ± {s['eval_accuracy_std']:.3f}" in text
    for key in METRICS:
        assert key in summary["runs"][0], key
    assert "±" in (out / "report.md").read_text()

    before = {p.name: p.read_bytes() for p in (out / "runs").glob("*.json")}
    code, text = peftkit(*args)
    assert code == 0 and "nothing to do" in text
    assert before == {p.name: p.read_bytes() for p in (out / "runs").glob("*.json")}

    code, text = peftkit("report", str(out), "--format", "csv")
    assert code == 0 and "lora:r=4" in text


def test_unsupported_is_a_row_and_the_sweep_goes_on(assets):
    root, data, _, llama = assets
    out = root / "out-llama"
    code, text = peftkit("compare", "--model", str(llama), "--dataset", str(data), "-s", "bitfit", "-s", "lora",
                         "--epochs", "1", "--max-length", "16", "--output", str(out))
    assert code == 0, text
    rows = {r["strategy"]: r for r in json.loads((out / "results.json").read_text())["runs"]}
    assert rows["bitfit"]["status"] == "unsupported" and "bias" in rows["bitfit"]["error"]
    assert rows["lora"]["status"] == "ok"


def test_different_configuration_is_refused(assets):
    root, data, bert, _ = assets
    out = root / "out-mixed"
    base = ["compare", "--model", str(bert), "--dataset", str(data), "-s", "head", "--epochs", "1", "--output", str(out)]
    assert peftkit(*base, "--max-length", "16")[0] == 0
    code, text = peftkit(*base, "--max-length", "24")
    assert code == 2 and "different configuration" in text and "max_length" in text


def test_nan_loss_is_a_diverged_row(assets):
    root, data, bert, _ = assets
    out = root / "out-nan"
    code, text = peftkit("compare", "--model", str(bert), "--dataset", str(data), "-s", "full", "-s", "head",
                         "--hp", "full.learning_rate=1e38", "--hp", "full.warmup=0", "--epochs", "2",
                         "--batch-size", "4", "--max-length", "16", "--output", str(out))
    assert code == 0, text
    rows = {r["strategy"]: r for r in json.loads((out / "results.json").read_text())["runs"]}
    assert rows["full"]["status"] == "diverged" and "nan" in rows["full"]["error"]
    assert rows["head"]["status"] == "ok"


def test_same_command_twice_gives_identical_metrics(assets):
    root, data, bert, _ = assets
    results = []
    for name in ("repeat-a", "repeat-b"):
        code, text = peftkit("compare", "--model", str(bert), "--dataset", str(data), "-s", "lora:r=4",
                             "-s", "prompt", "--epochs", "1", "--max-length", "16", "--output", str(root / name))
        assert code == 0, text
        runs = json.loads((root / name / "results.json").read_text())["runs"]
        results.append({r["strategy"]: (r["eval_accuracy"], r["eval_loss"], r["train_loss"]) for r in runs})
    assert results[0] == results[1]


def test_data_notes_reach_the_console_report_md_and_results_json(assets, tmp_path):
    """Held-out split, dropped rows and truncation are said once per comparison, not once per run."""
    _, _, bert, _ = assets
    rows = [f"the film is great {'and the plot is good ' * 6 if i % 4 == 0 else ''},{i % 2}" for i in range(40)]
    (tmp_path / "data.csv").write_text("text,label\n" + "\n".join(rows) + "\n ,1\nthe plot,NaN\n")
    out = tmp_path / "out"
    args = ["compare", "--model", str(bert), "--dataset", str(tmp_path / "data.csv"), "-s", "head", "-s", "bitfit",
            "--seeds", "0,1", "--epochs", "1", "--max-length", "16", "--output", str(out)]
    code, text = peftkit(*args)
    assert code == 2 and "--drop-invalid-rows" in text and not out.exists()
    code, text = peftkit(*args, "--drop-invalid-rows")
    assert code == 0, text
    expected = ["--drop-invalid-rows: dropped 2 of 42 rows of the train split (an empty text or a missing label)",
                "no validation split: held out 10% of train (4 rows), stratified, seeds 0, 1"]
    notes = json.loads((out / "results.json").read_text())["notes"]
    # bitfit's epochs, given, are too few for its steps rule: that note comes first, the data's after it
    assert notes[0].startswith("bitfit: ") and "optimizer steps" in notes[0], notes
    assert notes[1:3] == expected, notes
    assert any("max_length 16:" in n and "examples were truncated" in n for n in notes), notes
    report = (out / "report.md").read_text()
    for note in notes:
        assert f"- {note}" in report
        assert text.count(note) == 1, (note, text)  # on the console once, for four runs
    assert json.loads((out / "comparison.json").read_text())["drop_invalid_rows"] is True


def test_data_notes_are_merged_over_runs_and_seeds():
    from peftkit.compare_records import data_notes

    def record(seed, notes):
        return {"run_info": {"config": {"seed": seed}}, "train_info": {"data_notes": notes}}

    held = "no validation split: held out 10% of train (9 rows), stratified, seed {}"
    records = [record(0, ["labels were strings", held.format(0), "max_length 8: 3 of 81"]),
               record(0, ["labels were strings", held.format(0), "max_length 8: 3 of 81"]),  # another strategy
               record(1, ["labels were strings", held.format(1), "max_length 8: 4 of 81"]),
               record(10, ["labels were strings", held.format(10), "max_length 8: 3 of 81"]),
               {"run_info": {"config": {"seed": 2}}, "train_info": {"status": "failed"}}]  # no notes: not counted
    assert data_notes(records) == ["labels were strings", held.replace("seed {}", "seeds 0, 1, 10"),
                                   "seeds 0, 10: max_length 8: 3 of 81", "seed 1: max_length 8: 4 of 81"]
    assert data_notes(records[:2]) == ["labels were strings", held.format(0), "max_length 8: 3 of 81"]
    assert data_notes([]) == []
