import json
from pathlib import Path

import pandas as pd
import pytest

from peftkit.data import load_text_classification, tokenize
from peftkit.errors import PeftkitError

SST2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2"


def write_csv(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def rows(n: int, labels=(0, 1), text="text", label="label") -> list[dict]:
    return [{text: f"sentence number {i}", label: labels[i % len(labels)]} for i in range(n)]


def test_directory_with_validation(tmp_path):
    write_csv(tmp_path / "train.csv", rows(40))
    write_csv(tmp_path / "validation.csv", rows(10))
    data = load_text_classification(str(tmp_path))
    assert (len(data.train), len(data.eval), data.eval_split, data.num_labels) == (40, 10, "validation", 2)
    assert data.train.column_names == ["text", "label"]


def test_single_file_holds_out_a_stratified_split(tmp_path):
    data = load_text_classification(str(write_csv(tmp_path / "all.csv", rows(100, labels=(0, 0, 0, 1)))), seed=3)
    assert len(data.eval) == 10 and len(data.train) == 90
    assert sorted(data.eval["label"]).count(1) in (2, 3)
    assert any("held out" in n for n in data.notes) and "stratified" in data.eval_split
    again = load_text_classification(str(tmp_path / "all.csv"), seed=3)
    assert again.eval["text"] == data.eval["text"]


def test_string_labels_and_detected_columns(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps({"sentence": f"s {i}", "sentiment": ["pos", "neg", "neutral"][i % 3]})
                              for i in range(30)))
    data = load_text_classification(str(path))
    assert data.label_names == ["neg", "neutral", "pos"] and (data.text_column, data.label_column) == ("sentence", "sentiment")
    assert any("string labels" in n for n in data.notes)


def test_text_pairs_and_explicit_columns(tmp_path):
    write_csv(tmp_path / "train.csv", [{"sentence1": f"a {i}", "sentence2": f"b {i}", "y": i % 2} for i in range(20)])
    data = load_text_classification(str(tmp_path), label_column="y")
    assert data.text_pair_column == "sentence2" and "text_pair" in data.train.column_names


def test_parquet(tmp_path):
    pd.DataFrame(rows(20)).to_parquet(tmp_path / "train.parquet")
    pd.DataFrame(rows(6)).to_parquet(tmp_path / "test.parquet")
    assert load_text_classification(str(tmp_path)).eval_split == "test"


@pytest.mark.parametrize("make, words", [
    (lambda p: write_csv(p / "a.csv", rows(10, label="y")), ["no label column", "--label-column", "y"]),
    (lambda p: write_csv(p / "a.csv", rows(10, text="body")), ["no text column", "--text-column", "body"]),
    (lambda p: write_csv(p / "a.csv", [{"text": "x", "label": v} for v in (0, 1, None, 1)]), ["empty or NaN label"]),
    (lambda p: write_csv(p / "a.csv", rows(10, labels=(1,))), ["single class"]),
    (lambda p: (p / "a.csv").write_text(""), ["empty"]),
    (lambda p: (p / "a.json").write_text("{not json"), ["cannot read"]),
    (lambda p: (p / "a.xml").write_text("<a/>"), ["unknown file type"]),
])
def test_bad_data_is_one_clear_error(tmp_path, make, words):
    make(tmp_path)
    path = next(p for p in tmp_path.iterdir())
    with pytest.raises(PeftkitError) as e:
        load_text_classification(str(path))
    for word in words:
        assert word in str(e.value)
    assert "\n" not in str(e.value)


def test_unseen_eval_label(tmp_path):
    write_csv(tmp_path / "train.csv", rows(10))
    write_csv(tmp_path / "validation.csv", rows(6, labels=(0, 1, 2)))
    with pytest.raises(PeftkitError, match="never saw"):
        load_text_classification(str(tmp_path))


def test_missing_path_and_column_option(tmp_path):
    with pytest.raises(PeftkitError, match="does not exist"):
        load_text_classification(str(tmp_path / "nope.csv"))
    write_csv(tmp_path / "a.csv", rows(10))
    with pytest.raises(PeftkitError, match="column 'txt' not found"):
        load_text_classification(str(tmp_path / "a.csv"), text_column="txt")


def test_max_train_samples_is_stratified_and_seeded(tmp_path):
    write_csv(tmp_path / "train.csv", rows(200, labels=(0, 0, 0, 0, 1)))
    write_csv(tmp_path / "validation.csv", rows(10))
    a = load_text_classification(str(tmp_path), max_train_samples=20, seed=1)
    b = load_text_classification(str(tmp_path), max_train_samples=20, seed=1)
    assert a.train["text"] == b.train["text"] and a.train["label"].count(1) == 4


@pytest.mark.skipif(not SST2.is_dir(), reason="shared data not beside the checkout")
def test_shared_sst2():
    data = load_text_classification(str(SST2), max_train_samples=200)
    assert len(data.train) == 200 and len(data.eval) == 872 and data.label_names == ["0", "1"]


def test_tokenize_without_padding(tmp_path):
    from peftkit import demo
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(demo.write_tiny_model(tmp_path / "m"))
    data = load_text_classification(str(demo.write_dataset(tmp_path / "d", n_train=20, n_eval=8)))
    train, evaluation = tokenize(data, tokenizer, max_length=64)
    assert {"input_ids", "attention_mask", "labels"} <= set(train.column_names)
    assert len({len(x) for x in train["input_ids"]}) > 1  # no padding: the collator pads each batch
    assert max(len(x) for x in tokenize(data, tokenizer, max_length=6)[0]["input_ids"]) == 6
    assert len(evaluation) == 8
