"""peftkit train / predict / evaluate / merge through the CLI, on a tiny model and the demo data."""

import json

from click.testing import CliRunner
from transformers import AutoModelForSequenceClassification, pipeline

import peftkit
from peftkit import demo
from peftkit.cli import cli


def invoke(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, terminal_width=200)
    return result.exit_code, result.stdout


def test_train_predict_evaluate_merge(tmp_path):
    model = demo.write_tiny_model(tmp_path / "model")
    data = demo.write_dataset(tmp_path / "data", n_train=48, n_eval=16)
    out = tmp_path / "lora"
    code, text = invoke("train", "-s", "lora:r=4", "--model", str(model), "--dataset", str(data), "--output", str(out),
                        "--epochs", "1", "--max-length", "16")
    assert code == 0, text
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train_info"]["status"] == "ok" and (out / "adapter_config.json").exists()

    code, text = invoke("predict", str(out), "the film is great", "the plot is dull", "--format", "json")
    assert code == 0
    predictions = json.loads(text)
    assert [p["text"] for p in predictions] == ["the film is great", "the plot is dull"]
    assert all(p["label"] in ("0", "1") and 0 <= p["score"] <= 1 for p in predictions)

    code, text = invoke("evaluate", str(out), "--dataset", str(data))
    assert code == 0 and "accuracy" in text and "confusion matrix" in text
    assert (out / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    assert set(json.loads((out / "evaluation.json").read_text())) >= {"accuracy", "f1_macro", "confusion_matrix"}

    code, text = invoke("merge", str(out), str(tmp_path / "merged"))
    assert code == 0, text
    merged = AutoModelForSequenceClassification.from_pretrained(tmp_path / "merged")
    classifier = pipeline("text-classification", model=merged, tokenizer=str(tmp_path / "merged"))
    assert classifier("the film is great")[0]["label"] in ("0", "1")
    # a loaded (unmerged) model works in the pipeline too
    loaded = peftkit.load(out)
    assert pipeline("text-classification", model=loaded, tokenizer=str(out))("dull")[0]["score"] > 0


def test_train_refuses_a_non_empty_output(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "file").write_text("keep me")
    from peftkit.cli import main
    import pytest

    with pytest.raises(SystemExit) as e:
        main(["train", "-s", "head", "--model", "m", "--dataset", "d", "--output", str(tmp_path / "x")])
    assert e.value.code == 2 and (tmp_path / "x" / "file").read_text() == "keep me"
