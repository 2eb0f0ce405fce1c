"""peftkit train / predict / evaluate / merge through the CLI, on a tiny model and the demo data."""

import json

import pytest
from bad_train_input import train_failures
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


def _bad_inputs(root):
    """(name, extra CLI args) for every bad input `train` must answer with one line."""
    model = demo.write_tiny_model(root / "model")
    no_weights = root / "no-weights"
    no_weights.mkdir()
    for f in model.iterdir():
        if not f.name.endswith((".safetensors", ".bin")):
            (no_weights / f.name).write_bytes(f.read_bytes())

    def data(name, train, validation=None, suffix="csv"):
        d = root / name
        d.mkdir()
        (d / f"train.{suffix}").write_text(train)
        if validation is not None:
            (d / f"validation.{suffix}").write_text(validation)
        return d

    good = "text,label\n" + "".join(f"text number {i},{i % 2}\n" for i in range(12))
    return {
        "config without weights": (["--model", str(no_weights), "--dataset", str(data("ok", good))], ["weights"]),
        "model missing": (["--model", str(root / "nope"), "--dataset", str(root / "ok")], ["does not exist"]),
        "dataset missing": (["--model", str(model), "--dataset", str(root / "nothing")], ["nothing"]),
        "label column missing": (["--model", str(model), "--dataset", str(data("nolabel", "text\na\nb\n"))], ["label"]),
        "text column missing": (["--model", str(model), "--dataset", str(data("notext", "label\n1\n0\n"))], ["text"]),
        "empty": (["--model", str(model), "--dataset", str(data("empty", "text,label\n"))], ["empty"]),
        "single class": (["--model", str(model), "--dataset", str(data("one", "text,label\na,1\nb,1\nc,1\n"))],
                         ["single class"]),
        "unseen eval label": (["--model", str(model), "--dataset", str(data("unseen", good, "text,label\nx,0\ny,7\n"))],
                              ["7"]),
        "empty labels": (["--model", str(model), "--dataset", str(data("nan", good + "no label here,\n"))], ["label"]),
        "malformed json": (["--model", str(model), "--dataset", str(data("badjson", '{"text": "a", "label"', suffix="json"))],
                           ["json"]),
        "max length 0": (["--model", str(model), "--dataset", str(root / "ok"), "--max-length", "0"], ["max-length"]),
        "negative epochs": (["--model", str(model), "--dataset", str(root / "ok"), "--epochs", "-2"], ["epochs"]),
        "batch size 0": (["--model", str(model), "--dataset", str(root / "ok"), "--batch-size", "0"], ["batch-size"]),
        "unknown strategy": (["--model", str(model), "--dataset", str(root / "ok"), "-s", "lorra"], ["lorra"]),
        "NaN labels": (["--model", str(model), "--dataset", str(data("nanword", good + "no label here,NaN\n"))],
                       ["1 of 13 rows", "no label", "--drop-invalid-rows"]),
        "duplicate columns": (["--model", str(model), "--dataset", str(data("dup", "text,label,label\na,0,1\nb,1,0\n"))],
                              ["more than one column named 'label'"]),
        "infinite learning rate": (["--model", str(model), "--dataset", str(root / "ok"), "--learning-rate", "inf"],
                                   ["learning-rate must be a finite number, got inf"]),
        "NaN epochs": (["--model", str(model), "--dataset", str(root / "ok"), "--epochs", "nan"],
                       ["epochs must be a finite number, got nan"]),
        "infinite weight decay": (["--model", str(model), "--dataset", str(root / "ok"), "--weight-decay", "inf"],
                                  ["weight-decay must be a finite number, got inf"]),
        "infinite warm-up": (["--model", str(model), "--dataset", str(root / "ok"), "--warmup", "-inf"],
                             ["warmup must be a finite number, got -inf"]),
        "infinite lora dropout": (["--model", str(model), "--dataset", str(root / "ok"), "-s", "lora:dropout=inf"],
                                  ["'dropout'", "inf"]),
    }


def test_train_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path):
    failures = train_failures(_bad_inputs(tmp_path / "inputs"), tmp_path / "out")
    assert not failures, "\n".join(failures)


def test_train_drops_invalid_rows_and_prints_the_data_notes(tmp_path):
    model = demo.write_tiny_model(tmp_path / "model")
    rows = [f"the film is great {'and the plot is good ' * 6 if i % 4 == 0 else ''},{i % 2}" for i in range(40)]
    (tmp_path / "train.csv").write_text("text,label\n" + "\n".join(rows) + "\n ,1\nthe plot,NaN\n")
    out = tmp_path / "head"
    code, text = invoke("train", "-s", "head", "--model", str(model), "--dataset", str(tmp_path / "train.csv"),
                        "--output", str(out), "--epochs", "1", "--max-length", "16", "--drop-invalid-rows")
    assert code == 0, text
    notes = json.loads((out / "metrics.json").read_text())["train_info"]["data_notes"]
    assert notes[0] == "--drop-invalid-rows: dropped 2 of 42 rows of the train split (an empty text or a missing label)"
    assert any(n.startswith("no validation split: held out 10% of train (4 rows)") for n in notes)
    assert any(n.startswith("max_length 16: 9 of 36 training and 1 of 4 evaluation examples were truncated")
               for n in notes), notes
    for note in notes:  # on the console too, each once
        assert text.count(note) == 1, (note, text)
    assert json.loads((out / "metrics.json").read_text())["run_info"]["config"]["drop_invalid_rows"] is True

    # evaluate scores the rows training held out: it drops the same rows, as metrics.json says
    code, text = invoke("evaluate", str(out), "--dataset", str(tmp_path / "train.csv"))
    assert code == 0, text
    assert "4 examples" in text
    with pytest.raises(peftkit.PeftkitError, match="--drop-invalid-rows"):
        invoke("evaluate", str(out), "--dataset", str(tmp_path / "train.csv"), "--keep-invalid-rows")
