"""Token classification through the CLI, on a tiny model and tiny CoNLL data: train, predict, evaluate, merge
into a pipeline, load with plain peft; and every bad input answered with one line, exit 2, nothing written."""

import json

import pytest
from bad_train_input import train_failures
from click.testing import CliRunner
from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

from peftkit import demo
from peftkit.cli import cli

SENTENCES = [("the film is great", "B-PER I-PER O O"), ("a plot in the film", "O B-LOC O O B-ORG"),
             ("great acting", "B-MISC O"), ("the plot is dull", "O B-LOC O O")]


def conll(sentences, columns: str = "{w} X X {t}") -> str:
    lines = ["-DOCSTART- X X O", ""]
    for words, tags in sentences:
        lines += [columns.format(w=w, t=t) for w, t in zip(words.split(), tags.split())] + [""]
    return "\n".join(lines)


def write_data(root, train=None, valid=None, name="data"):
    d = root / name
    d.mkdir(parents=True)
    (d / "train.txt").write_text(conll(SENTENCES * 6) if train is None else train)
    (d / "valid.txt").write_text(conll(SENTENCES) if valid is None else valid)
    return d


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, terminal_width=200)
    return result.exit_code, result.stdout


def test_train_predict_evaluate_merge_pipeline(tmp_path):
    from peft import PeftModel

    model, data, out = demo.write_tiny_model(tmp_path / "model"), write_data(tmp_path), tmp_path / "ner"
    code, text = invoke("train", "-s", "lora:r=4", "--model", model, "--dataset", data, "--output", out,
                        "--epochs", "2", "--learning-rate", "5e-2")  # no --task: CoNLL says token classification
    assert code == 0, text
    info = json.loads((out / "metrics.json").read_text())["train_info"]
    assert info["task"] == "token-classification" and 0 <= info["eval_f1_entity"] <= 1
    assert set(info["eval_f1_per_type"]) == {"LOC", "MISC", "ORG", "PER"}
    assert info["label_names"] == ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]

    code, text = invoke("predict", out, "the film is great", "a plot", "--format", "json")
    assert code == 0, text
    predicted = json.loads(text)
    assert [p["text"] for p in predicted] == ["the film is great", "a plot"]
    for p in predicted:
        for e in p["entities"]:
            assert set(e) == {"entity_group", "score", "word", "start", "end"}
            assert p["text"][e["start"]:e["end"]].lower() == e["word"]

    code, text = invoke("evaluate", out, "--dataset", data)
    assert code == 0, text
    assert "f1_entity" in text and "micro avg" in text and "confusion of entity types" in text
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["labels"] == ["LOC", "MISC", "ORG", "PER", "O"] and len(evaluation["confusion_matrix"]) == 5
    assert (out / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"

    code, text = invoke("merge", out, tmp_path / "merged")
    assert code == 0 and 'pipeline("token-classification")' in text
    tagger = pipeline("token-classification", model=str(tmp_path / "merged"), aggregation_strategy="simple")
    for p in predicted:  # the merged model in the pipeline gives the entities peftkit predicted
        got = tagger(p["text"])
        assert [(e["entity_group"], e["start"], e["end"]) for e in got] == \
            [(e["entity_group"], e["start"], e["end"]) for e in p["entities"]]

    # the tiny base is a sentence classifier (2 labels): its head is replaced, as peftkit replaces it
    base = AutoModelForTokenClassification.from_pretrained(model, num_labels=9, ignore_mismatched_sizes=True)
    plain = PeftModel.from_pretrained(base, out)  # a standard peft adapter: no peftkit needed
    inputs = AutoTokenizer.from_pretrained(out)("the film is great", return_tensors="pt")
    merged = AutoModelForTokenClassification.from_pretrained(tmp_path / "merged")
    assert (plain(**inputs).logits - merged(**inputs).logits).abs().max() < 1e-4


def test_params_from_a_config_alone():
    code, text = invoke("params", "--task", "token-classification", "--num-labels", "9", "-s", "head", "--format", "json")
    assert code == 0, text
    row = json.loads(text)[0]
    assert row["trainable_params"] == 768 * 9 + 9  # BERT-base's token head: one linear layer


def _bad_inputs(root):
    tsv = "text,label\n" + "".join(f"text number {i},{i % 2}\n" for i in range(12))
    csv_dir = root / "csv"
    csv_dir.mkdir(parents=True)
    (csv_dir / "train.csv").write_text(tsv)
    jsonl = root / "empty-sentence.jsonl"
    jsonl.write_text('{"tokens": ["the", "film"], "tags": ["B-PER", "O"]}\n{"tokens": [], "tags": []}\n')
    return {
        "ragged columns": ([write_data(root, train=conll(SENTENCES) + "film X O\n", name="ragged")], ["columns"]),
        "invalid tag": ([write_data(root, train=conll(SENTENCES).replace("B-PER", "X-PER"), name="xper")], ["X-PER"]),
        "mixed schemes": ([write_data(root, train=conll(SENTENCES + [("great film", "I-PER O")]), name="mixed")],
                          ["mixes tag schemes"]),
        "unseen entity type": ([write_data(root, valid=conll([("the film", "B-DATE O")]), name="unseen")], ["DATE"]),
        "no sentence": ([write_data(root, train="-DOCSTART- X X O\n\n\n", name="blank")], ["no sentence"]),
        "empty sentence": ([jsonl], ["empty"]),
        "sentence data as tokens": ([csv_dir, "--task", "token-classification"], ["sentence-classification"]),
        "tokens as sentence data": ([root / "unseen", "--task", "sequence-classification"],
                                    ["token-classification"]),
    }


def test_bad_token_input_is_one_line_exit_2_and_writes_nothing(tmp_path):
    model = demo.write_tiny_model(tmp_path / "model")
    cases = {name: (["--model", model, "--dataset", *args], words)
             for name, (args, words) in _bad_inputs(tmp_path / "inputs").items()}
    failures = train_failures(cases, tmp_path / "out")
    assert not failures, "\n".join(failures)


def test_subword_labels_is_refused_for_sentences(tmp_path):
    from peftkit.errors import PeftkitError
    from peftkit.training import RunConfig, preflight

    model = demo.write_tiny_model(tmp_path / "model")
    data = demo.write_dataset(tmp_path / "sentences", n_train=8, n_eval=4)
    with pytest.raises(PeftkitError, match="subword-labels"):
        preflight(RunConfig(model=str(model), dataset=str(data), strategy="head", subword_labels="all"))
    config, _, tokens = preflight(RunConfig(model=str(model), dataset=str(write_data(tmp_path)), strategy="head",
                                            subword_labels="all"))
    assert config.task == "token-classification" and tokens.scheme == "IOB2"


def test_head_trains_on_cached_token_features_and_says_their_size(tmp_path):
    model, data, out = demo.write_tiny_model(tmp_path / "model"), write_data(tmp_path), tmp_path / "head"
    code, text = invoke("train", "-s", "head", "--model", model, "--dataset", data, "--output", out, "--epochs", "2")
    assert code == 0, text
    cache = json.loads((out / "metrics.json").read_text())["train_info"]["feature_cache"]
    hidden = json.loads((model / "config.json").read_text())["hidden_size"]
    tokens = 24 * 2 + sum(len(w.split()) for w, _ in SENTENCES) * 6  # [CLS] and [SEP] of each of 24 sentences
    assert cache["examples"] == 24 and cache["bytes"] >= tokens * hidden * 4  # words may take several sub-tokens
    assert "cached body features: 24 examples" in " ".join(text.split())
