import json
from collections import Counter
from pathlib import Path

import datasets
import pandas as pd
import pytest

from peftkit.data import TextClassificationData, load_text_classification, tokenize
from peftkit.errors import PeftkitError

SST2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2"


def write_csv(path: Path, rows: list[dict], sep: str = ",") -> Path:
    pd.DataFrame(rows).to_csv(path, index=False, sep=sep)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def rows(n: int, labels=(0, 1), text="text", label="label", start=0) -> list[dict]:
    return [{text: f"sentence number {i}", label: labels[i % len(labels)]} for i in range(start, start + n)]


def load_error(*args, **kwargs) -> str:
    with pytest.raises(PeftkitError) as e:
        load_text_classification(*args, **kwargs)
    message = str(e.value)
    assert "\n" not in message  # one line
    return message


# -- sources ------------------------------------------------------------------------------------

def test_directory_with_train_and_validation(tmp_path):
    write_csv(tmp_path / "train.csv", rows(40))
    write_csv(tmp_path / "validation.csv", rows(10, start=100))
    write_csv(tmp_path / "test.csv", rows(12, start=200))
    data = load_text_classification(str(tmp_path))
    assert isinstance(data, TextClassificationData)
    assert (len(data.train), len(data.eval), data.eval_split, data.num_labels) == (40, 10, "validation", 2)
    assert data.train.column_names == data.eval.column_names == ["text", "label"]
    assert data.label_names == ["0", "1"] and data.notes == [] and data.source == str(tmp_path)
    assert (data.text_column, data.text_pair_column, data.label_column) == ("text", None, "label")
    assert data.eval["text"][0] == "sentence number 100"
    assert data.train.features["label"].dtype == "int64"


def test_directory_dev_jsonl_counts_as_validation(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", rows(20))
    write_jsonl(tmp_path / "dev.jsonl", rows(6))
    data = load_text_classification(tmp_path)
    assert (data.eval_split, len(data.eval)) == ("validation", 6)


def test_directory_falls_back_to_test_then_explicit_split(tmp_path):
    pd.DataFrame(rows(20)).to_parquet(tmp_path / "train.parquet")
    pd.DataFrame(rows(6)).to_parquet(tmp_path / "test.parquet")
    assert load_text_classification(str(tmp_path)).eval_split == "test"
    write_csv(tmp_path / "validation.csv", rows(4))
    data = load_text_classification(str(tmp_path), eval_split="test")
    assert (data.eval_split, len(data.eval)) == ("test", 6)
    assert "fix --eval-split" in load_error(str(tmp_path), eval_split="holdout")


def test_unlabeled_test_split_is_not_used(tmp_path):
    """GLUE's test splits have label -1: hold out part of train instead, and say why."""
    write_csv(tmp_path / "train.csv", rows(40))
    write_csv(tmp_path / "test.csv", rows(10, labels=(-1,)))
    data = load_text_classification(str(tmp_path))
    assert data.eval_split == "train (stratified 10% held out, seed 0)" and len(data.eval) == 4
    assert any(n.startswith("the test split has no labels: held out 10% of train") for n in data.notes)
    assert "no labels" in load_error(str(tmp_path), eval_split="test")


def test_single_file_holds_out_a_stratified_split(tmp_path):
    path = write_csv(tmp_path / "all.csv", rows(100, labels=(0, 0, 0, 1)))
    data = load_text_classification(str(path), seed=3)
    assert (len(data.train), len(data.eval)) == (90, 10)
    assert Counter(data.eval["label"]) == {0: 7, 1: 3} or Counter(data.eval["label"]) == {0: 8, 1: 2}
    assert not set(data.eval["text"]) & set(data.train["text"])
    assert data.eval_split == "train (stratified 10% held out, seed 3)"
    assert "no validation split: held out 10% of train (10 rows), stratified, seed 3" in data.notes
    again = load_text_classification(str(path), seed=3)
    assert again.eval["text"] == data.eval["text"] and again.train["text"] == data.train["text"]
    other = load_text_classification(str(path), seed=4, validation_fraction=0.2)
    assert len(other.eval) == 20 and other.eval["text"] != data.eval["text"]


def test_tsv_and_json_forms(tmp_path):
    tsv = write_csv(tmp_path / "a.tsv", rows(20), sep="\t")
    assert len(load_text_classification(str(tsv)).train) == 18
    records = tmp_path / "records.json"
    records.write_text(json.dumps(rows(20)))
    columns = tmp_path / "columns.json"
    columns.write_text(json.dumps({"text": [r["text"] for r in rows(20)], "label": [r["label"] for r in rows(20)]}))
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"data": rows(20)}))
    lines = write_jsonl(tmp_path / "lines.json", rows(20))
    loaded = [load_text_classification(str(p)) for p in (records, columns, wrapped, lines)]
    assert all(d.train["text"] == loaded[0].train["text"] for d in loaded)


def test_text_that_looks_like_missing_stays_text(tmp_path):
    texts = ["NA", "null", "None", "nan", "fine", "good"]
    path = write_csv(tmp_path / "a.csv", [{"text": t, "label": i % 2} for i, t in enumerate(texts * 4)])
    data = load_text_classification(str(path))
    assert sorted(set(data.train["text"]) | set(data.eval["text"])) == sorted(texts)


def test_hub_names_and_their_failure(monkeypatch):
    calls = []

    def offline(*args, **kwargs):
        calls.append(args)
        raise ConnectionError("Couldn't reach the Hugging Face Hub\nretry later")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    message = load_error("imdb")
    assert message == ("cannot load dataset 'imdb' from the hub: Couldn't reach the Hugging Face Hub; "
                       "pass a local file or directory")
    load_error("glue/sst2")
    load_error("glue:sst2")
    load_error("stanfordnlp/imdb")
    load_error("nyu-mll/glue/mrpc")
    assert calls == [("imdb", None), ("glue", "sst2"), ("glue", "sst2"), ("stanfordnlp/imdb", None),
                     ("nyu-mll/glue", "mrpc")]


def test_hub_dataset_class_label_names_and_glue_test_split(monkeypatch):
    features = datasets.Features({"sentence": datasets.Value("string"), "idx": datasets.Value("int32"),
                                  "label": datasets.ClassLabel(names=["negative", "positive"])})

    def split(n, labels):
        return datasets.Dataset.from_dict({"sentence": [f"s {i}" for i in range(n)], "idx": list(range(n)),
                                           "label": [labels[i % len(labels)] for i in range(n)]}, features=features)

    glue = datasets.DatasetDict(train=split(30, (0, 1)), validation=split(8, (1, 0)), test=split(8, (-1,)))
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: glue)
    data = load_text_classification("glue/sst2")
    assert data.label_names == ["negative", "positive"] and data.eval_split == "validation"
    assert (data.text_column, data.label_column) == ("sentence", "label")
    assert data.train.column_names == ["text", "label"] and data.notes == []
    del glue["validation"]
    assert load_text_classification("glue/sst2").eval_split.startswith("train (stratified")


def test_parquet_written_by_datasets_keeps_label_names(tmp_path):
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["bad", "good"])})
    datasets.Dataset.from_dict({r: [x[r] for x in rows(20)] for r in ("text", "label")},
                               features=features).to_parquet(tmp_path / "train.parquet")
    assert load_text_classification(str(tmp_path)).label_names == ["bad", "good"]


# -- columns ------------------------------------------------------------------------------------

def test_string_labels_and_detected_columns(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"id": i, "review": f"s {i}", "sentiment": ["pos", "neg", "neutral"][i % 3]}
                                              for i in range(30)])
    data = load_text_classification(str(path))
    assert data.label_names == ["neg", "neutral", "pos"]
    assert (data.text_column, data.label_column) == ("review", "sentiment")
    assert "labels were strings: mapped to ids 0..2 in sorted order (neg=0, neutral=1, pos=2)" in data.notes
    all_rows = list(zip(data.train["text"][:] + data.eval["text"][:], data.train["label"][:] + data.eval["label"][:]))
    assert ("s 0", 2) in all_rows and ("s 1", 0) in all_rows


def test_integer_labels_not_from_zero_are_remapped(tmp_path):
    path = write_csv(tmp_path / "a.csv", rows(20, labels=(1, 2)))
    data = load_text_classification(str(path))
    assert data.label_names == ["1", "2"] and set(data.train["label"]) == {0, 1}
    assert any("were not 0..1" in n for n in data.notes)


def test_boolean_labels(tmp_path):
    data = load_text_classification(str(write_jsonl(tmp_path / "a.jsonl", rows(20, labels=(True, False)))))
    assert data.label_names == ["False", "True"] and any("booleans" in n for n in data.notes)


def test_explicit_columns(tmp_path):
    path = write_csv(tmp_path / "a.csv", [{"body": f"t {i}", "title": f"x {i}", "y": "ab"[i % 2]} for i in range(20)])
    data = load_text_classification(str(path), text_column="title", label_column="y")
    assert (data.text_column, data.label_column, data.label_names) == ("title", "y", ["a", "b"])
    assert data.train["text"][0].startswith("x ")


def test_text_pairs(tmp_path):
    write_csv(tmp_path / "train.csv", [{"sentence1": f"a {i}", "sentence2": f"b {i}", "label": i % 2} for i in range(20)])
    data = load_text_classification(str(tmp_path))
    assert (data.text_column, data.text_pair_column) == ("sentence1", "sentence2")
    assert data.train.column_names == ["text", "text_pair", "label"]
    assert all(p == "b" + t[1:] for t, p in zip(data.train["text"], data.train["text_pair"]))
    single = load_text_classification(str(tmp_path), text_column="sentence2", text_pair_column="sentence1")
    assert single.text_pair_column == "sentence1"


def test_a_pair_column_is_not_guessed_for_plain_text(tmp_path):
    path = write_csv(tmp_path / "a.csv", [{"text": f"a {i}", "hypothesis": f"b {i}", "label": i % 2} for i in range(20)])
    data = load_text_classification(str(path))
    assert data.text_pair_column is None and "text_pair" not in data.train.column_names


@pytest.mark.parametrize("kwargs, words", [
    ({}, ["no label column found", "label, labels, class, target, sentiment", "columns are: text, y", "--label-column"]),
    ({"label_column": "z"}, ["label column 'z' not found", "columns are: text, y", "--label-column"]),
    ({"text_column": "body", "label_column": "y"}, ["text column 'body' not found", "--text-column"]),
    ({"label_column": "text"}, ["used twice"]),
])
def test_missing_column_messages(tmp_path, kwargs, words):
    path = write_csv(tmp_path / "a.csv", rows(10, label="y"))
    message = load_error(str(path), **kwargs)
    for word in words:
        assert word in message


def test_missing_text_column_lists_the_columns(tmp_path):
    message = load_error(str(write_csv(tmp_path / "a.csv", rows(10, text="body"))))
    assert "no text column found" in message and "columns are: body, label" in message and "--text-column" in message


def test_eval_split_without_the_text_column(tmp_path):
    write_csv(tmp_path / "train.csv", rows(10))
    write_csv(tmp_path / "validation.csv", rows(4, text="body"))
    assert "the validation split has no column 'text'" in load_error(str(tmp_path))


# -- bad data -----------------------------------------------------------------------------------

@pytest.mark.parametrize("make, words", [
    (lambda p: write_csv(p / "a.csv", [{"text": "x", "label": v} for v in (0, 1, None, 1, None)]),
     ["2 of 5 rows of the train split have no label", "fill them in"]),
    (lambda p: write_jsonl(p / "a.jsonl", [{"text": "x", "label": v} for v in ("a", "b", "", "a")]),
     ["1 of 4 rows of the train split have no label"]),
    (lambda p: write_csv(p / "a.csv", rows(10, labels=(1,))), ["single class (1)", "at least two"]),
    (lambda p: write_csv(p / "a.csv", [{"text": t, "label": i % 2} for i, t in enumerate(["a", "", "b", " ", "c"])]),
     ["2 of 5 rows of the train split have an empty or non-text 'text'", "--text-column"]),
    (lambda p: write_jsonl(p / "a.jsonl", [{"text": t, "label": i % 2} for i, t in enumerate(["a", 3, "c", None])]),
     ["cannot read"]),  # arrow refuses a column of strings and numbers
    (lambda p: write_csv(p / "a.csv", [{"text": i, "label": i % 2} for i in range(6)]),
     ["6 of 6 rows of the train split have an empty or non-text 'text'"]),
    (lambda p: write_csv(p / "a.csv", [{"text": "x", "label": v} for v in (0.5, 1.0, 0.25)]),
     ["non-integer numbers", "--label-column"]),
    (lambda p: (p / "a.csv").write_text(""), ["a.csv is empty"]),
    (lambda p: (p / "a.csv").write_text("text,label\n"), ["a.csv has no rows"]),
    (lambda p: (p / "a.csv").write_text('text,label\n"a",1\n"b",0,7,8\n'), ["cannot read", "as csv", "check the file's format"]),
    (lambda p: (p / "a.json").write_text("{not json"), ["cannot read", "as json"]),
    (lambda p: (p / "a.jsonl").write_text('{"text": "a", "label": 1}\n{"text": oops}\n'), ["line 2 is not JSON"]),
    (lambda p: (p / "a.json").write_text("[1, 2, 3]"), ["one JSON object per row"]),
    (lambda p: (p / "a.parquet").write_bytes(b"PAR1 definitely not parquet"), ["cannot read", "as parquet"]),
    (lambda p: (p / "a.csv").write_bytes(b"text,label\n\xff\xfe\xfa,1\n"),
     ["a.csv is not UTF-8 text (byte 0xff at position 11)", "re-save the file as UTF-8"]),
    (lambda p: (p / "a.xml").write_text("<a/>"), ["unknown file type '.xml'"]),
])
def test_bad_data_is_one_clear_error(tmp_path, make, words):
    make(tmp_path)
    message = load_error(str(next(tmp_path.iterdir())))
    for word in words:
        assert word in message


def test_unseen_eval_label(tmp_path):
    write_csv(tmp_path / "train.csv", rows(10, labels=("neg", "pos")))
    write_csv(tmp_path / "validation.csv", rows(6, labels=("neg", "pos", "mixed")))
    message = load_error(str(tmp_path))
    assert "the validation split has labels the train split never has: mixed" in message


def test_nan_labels_in_eval(tmp_path):
    write_csv(tmp_path / "train.csv", rows(10))
    write_csv(tmp_path / "validation.csv", [{"text": "x", "label": v} for v in (0, None, 1)])
    assert "1 of 3 rows of the validation split have no label" in load_error(str(tmp_path))


def test_empty_eval_split(tmp_path):
    write_csv(tmp_path / "train.csv", rows(10))
    (tmp_path / "validation.csv").write_text("text,label\n")
    assert "validation.csv has no rows" in load_error(str(tmp_path))


def test_paths_that_do_not_work(tmp_path):
    for missing in (tmp_path / "nope.csv", tmp_path / "nope", "./nope-data", "~/surely/not/here.jsonl"):
        message = load_error(str(missing))
        assert f"dataset path {missing} does not exist" in message and "hub name" in message
    (tmp_path / "notes.txt").write_text("hello")
    assert "has no train file" in load_error(str(tmp_path))
    write_csv(tmp_path / "train.csv", rows(10))
    write_jsonl(tmp_path / "train.jsonl", rows(10))
    assert "several train files (train.csv, train.jsonl); keep one" in load_error(str(tmp_path))


def test_too_small_to_hold_out(tmp_path):
    assert "too few rows (2) to hold out" in load_error(str(write_csv(tmp_path / "a.csv", rows(2))))
    data = load_text_classification(str(write_csv(tmp_path / "b.csv", rows(5, labels=(0, 0, 0, 0, 1)))))
    assert data.train["label"][:].count(1) == 1 and data.eval["label"][:] == [0]  # a lone example stays in train


@pytest.mark.parametrize("kwargs", [{"validation_fraction": 0}, {"validation_fraction": 1.5},
                                    {"max_train_samples": 0}, {"max_eval_samples": -3}])
def test_bad_options(tmp_path, kwargs):
    load_error(str(write_csv(tmp_path / "a.csv", rows(20))), **kwargs)


# -- subsets ------------------------------------------------------------------------------------

def test_max_samples_are_stratified_and_seeded(tmp_path):
    write_csv(tmp_path / "train.csv", rows(200, labels=(0, 0, 0, 0, 1)))
    write_csv(tmp_path / "validation.csv", rows(50, labels=(0, 1)))
    a = load_text_classification(str(tmp_path), max_train_samples=20, max_eval_samples=10, seed=1)
    b = load_text_classification(str(tmp_path), max_train_samples=20, max_eval_samples=10, seed=1)
    c = load_text_classification(str(tmp_path), max_train_samples=20, max_eval_samples=10, seed=2)
    assert a.train["text"] == b.train["text"] and a.eval["text"] == b.eval["text"]
    assert a.train["text"] != c.train["text"]
    assert Counter(a.train["label"]) == {0: 16, 1: 4} and Counter(a.eval["label"]) == {0: 5, 1: 5}
    assert "max_train_samples: 20 of 200 rows, stratified, seed 1" in a.notes
    for seed in range(5):  # a small subset keeps both classes
        assert sorted(load_text_classification(str(tmp_path), max_train_samples=2, seed=seed).train["label"]) == [0, 1]
    assert len(load_text_classification(str(tmp_path), max_train_samples=10_000).train) == 200


def test_max_train_samples_apply_after_the_held_out_split(tmp_path):
    path = write_csv(tmp_path / "a.csv", rows(100))
    full = load_text_classification(str(path))
    small = load_text_classification(str(path), max_train_samples=30)
    assert small.eval["text"] == full.eval["text"] and len(small.train) == 30
    assert set(small.train["text"]) <= set(full.train["text"])


@pytest.mark.skipif(not SST2.is_dir(), reason="shared data not beside the checkout")
def test_shared_sst2():
    data = load_text_classification(str(SST2), max_train_samples=200)
    assert (len(data.train), len(data.eval), data.eval_split) == (200, 872, "validation")
    assert data.label_names == ["0", "1"] and 80 <= sum(data.train["label"]) <= 120
    assert load_text_classification(str(SST2), max_train_samples=200).train["text"] == data.train["text"]


# -- tokenize -----------------------------------------------------------------------------------

def tiny_tokenizer(directory: Path):
    from transformers import BertTokenizerFast

    # from_pretrained on a directory with vocab.txt: transformers 5 ignores BertTokenizerFast(vocab_file=...)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "sentence", "number", "a", "b", "##1", "##2"]
    words += [str(i) for i in range(10)]
    (directory / "vocab.txt").write_text("\n".join(words) + "\n")
    return BertTokenizerFast.from_pretrained(str(directory), do_lower_case=True)


def test_tokenize_truncates_and_does_not_pad(tmp_path):
    texts = ["sentence", "sentence number 1", "sentence number 12 34 56 78", "a b"] * 5
    path = write_csv(tmp_path / "a.csv", [{"text": t, "label": i % 2} for i, t in enumerate(texts)])
    data = load_text_classification(str(path))
    train, evaluation = tokenize(data, tiny_tokenizer(tmp_path), max_length=8)
    assert set(train.column_names) == {"input_ids", "token_type_ids", "attention_mask", "labels"}
    assert train["labels"] == data.train["label"] and evaluation["labels"] == data.eval["label"]
    lengths = [len(ids) for ids in train["input_ids"]]
    assert max(lengths) == 8 and min(lengths) == 3  # [CLS] sentence [SEP]: no padding
    assert all(len(m) == n for m, n in zip(train["attention_mask"], lengths))


def test_tokenize_pairs(tmp_path):
    write_csv(tmp_path / "train.csv", [{"premise": "sentence a", "hypothesis": "number b", "label": i % 2} for i in range(10)])
    write_csv(tmp_path / "validation.csv", [{"premise": "a", "hypothesis": "b", "label": 1}])
    tokenizer = tiny_tokenizer(tmp_path)
    train, evaluation = tokenize(load_text_classification(str(tmp_path)), tokenizer, max_length=32)
    assert tokenizer.convert_ids_to_tokens(evaluation["input_ids"][0]) == ["[CLS]", "a", "[SEP]", "b", "[SEP]"]
    assert evaluation["token_type_ids"][0] == [0, 0, 0, 1, 1]
    assert len(train) == 10


def test_demo_tokenizer_knows_the_demo_words(tmp_path):
    from transformers import AutoTokenizer

    from peftkit import demo

    tokenizer = AutoTokenizer.from_pretrained(demo.write_tiny_model(tmp_path / "m"))
    assert tokenizer.tokenize("the film is great") == ["the", "film", "is", "great"]


# -- missing labels, duplicate columns and dropped rows, in every form ---------------------------------

def _write_parquet(path: Path, columns: dict) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(list(map(pa.array, columns.values())), names=list(columns)), path)
    return path


def _as(form: str, directory: Path, rows_: list[dict]) -> str:
    """``rows_`` as a dataset argument of the given form."""
    columns = {k: [r.get(k) for r in rows_] for k in rows_[0]}
    if form == "csv":
        return str(write_csv(directory / "a.csv", rows_))
    if form == "tsv":
        return str(write_csv(directory / "a.tsv", rows_, sep="\t"))
    if form == "json":
        (directory / "a.json").write_text(json.dumps(rows_))
        return str(directory / "a.json")
    if form == "jsonl":
        return str(write_jsonl(directory / "a.jsonl", rows_))
    if form == "parquet":
        return str(_write_parquet(directory / "a.parquet", columns))
    if form == "directory":
        write_csv(directory / "train.csv", rows_)
        write_csv(directory / "validation.csv", rows(6, labels=("pos", "neg"), start=100))
        return str(directory)
    raise AssertionError(form)


FORMS = ["csv", "tsv", "json", "jsonl", "parquet", "directory"]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("spelling", ["NaN", "nan", "NA", "null", "", " N/A "])
def test_missing_label_spellings_are_missing_labels_in_every_form(tmp_path, form, spelling):
    data_rows = rows(20, labels=("pos", "neg")) + [{"text": "unlabelled", "label": spelling}]
    source = _as(form, tmp_path, data_rows)
    assert "1 of 21 rows of the train split have no label" in load_error(source)
    assert "--drop-invalid-rows" in load_error(source)
    data = load_text_classification(source, drop_invalid_rows=True)
    assert data.label_names == ["neg", "pos"]  # never a third class
    assert "--drop-invalid-rows: dropped 1 of 21 rows of the train split (an empty text or a missing label)" in data.notes


def test_nan_labels_in_eval_are_refused_or_dropped(tmp_path):
    write_csv(tmp_path / "train.csv", rows(10))
    write_csv(tmp_path / "validation.csv", [{"text": t, "label": v} for t, v in (("x", "0"), ("y", "NaN"), ("", "1"),
                                                                                  ("z", "1"))])
    assert "1 of 4 rows of the validation split have an empty" in load_error(str(tmp_path))
    write_csv(tmp_path / "validation.csv", [{"text": t, "label": v} for t, v in (("x", "0"), ("y", "NaN"), ("", "1"),
                                                                                  ("z", "1"))])
    data = load_text_classification(str(tmp_path), drop_invalid_rows=True)
    # the csv reads 0, 1, NaN as text: what is left are the numbers 0 and 1, the labels of train
    assert data.eval["text"] == ["x", "z"] and data.eval["label"] == [0, 1] and data.eval_split == "validation"
    assert "--drop-invalid-rows: dropped 2 of 4 rows of the validation split (an empty text or a missing label)" \
        in data.notes


def test_a_validation_split_of_missing_labels_is_not_used(tmp_path):
    write_csv(tmp_path / "train.csv", rows(20))
    write_csv(tmp_path / "test.csv", [{"text": f"t {i}", "label": "NaN"} for i in range(5)])
    assert load_text_classification(str(tmp_path)).eval_split.startswith("train (stratified")


def test_drop_invalid_rows_drops_empty_texts_and_pairs_only(tmp_path):
    data_rows = [{"premise": "p" if i != 3 else " ", "hypothesis": "h" if i != 5 else None, "label": i % 2}
                 for i in range(30)]
    path = write_jsonl(tmp_path / "a.jsonl", data_rows)
    assert "1 of 30 rows of the train split have an empty or non-text 'premise'" in load_error(str(path))
    data = load_text_classification(str(path), drop_invalid_rows=True)
    assert len(data.train) + len(data.eval) == 28 and data.notes[0].startswith("--drop-invalid-rows: dropped 2 of 30")
    numbers = write_csv(tmp_path / "b.csv", [{"text": i, "label": i % 2} for i in range(6)])
    assert "non-text 'text'" in load_error(str(numbers), drop_invalid_rows=True)  # not empty: the wrong column
    assert "train split is empty" in load_error(str(write_csv(tmp_path / "c.csv", [{"text": "x", "label": "NA"}] * 4)),
                                                drop_invalid_rows=True)


def test_default_data_is_unchanged_by_the_flag(tmp_path):
    path = write_csv(tmp_path / "a.csv", rows(40))
    plain, dropping = load_text_classification(str(path)), load_text_classification(str(path), drop_invalid_rows=True)
    assert plain.train["text"] == dropping.train["text"] and plain.notes == dropping.notes


@pytest.mark.parametrize("make", [
    lambda p: (p / "a.csv").write_text("text,label,label\na,1,0\nb,0,1\n"),
    lambda p: (p / "a.tsv").write_text("text\tlabel\ttext\na\t1\tb\n"),
    lambda p: (p / "a.jsonl").write_text('{"text": "a", "label": 1, "label": 0}\n'),
    lambda p: (p / "a.json").write_text('[{"text": "a", "label": 1}, {"text": "b", "text": "c", "label": 0}]'),
    lambda p: (p / "a.json").write_text('{"text": ["a", "b"], "label": [0, 1], "label": [1, 0]}'),
])
def test_duplicate_column_names_are_refused_by_name(tmp_path, make):
    make(tmp_path)
    message = load_error(str(next(tmp_path.iterdir())))
    assert "has more than one column named" in message and "rename or remove the copies" in message


def test_duplicate_columns_in_parquet_and_a_directory(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table([pa.array(["a", "b"]), pa.array([1, 0]), pa.array([0, 1])],
                            names=["text", "label", "label"]), tmp_path / "a.parquet")
    assert "a.parquet has more than one column named 'label'" in load_error(str(tmp_path / "a.parquet"))
    (tmp_path / "d").mkdir()
    write_csv(tmp_path / "d" / "train.csv", rows(10))
    (tmp_path / "d" / "validation.csv").write_text("text,text,label\na,b,1\n")
    assert "validation.csv has more than one column named 'text'" in load_error(str(tmp_path / "d"))


def test_csv_columns_named_like_pandas_copies_are_fine(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("text,label,label.1\n" + "".join(f"s {i},{i % 2},{i % 3}\n" for i in range(20)))
    assert load_text_classification(str(path)).label_column == "label"


def test_hub_datasets_missing_labels_and_duplicate_columns(monkeypatch):
    def split(labels, extra=None):
        columns = {"text": [f"s {i}" for i in range(len(labels))], "label": list(labels), **(extra or {})}
        return datasets.Dataset.from_dict(columns)

    hub = datasets.DatasetDict(train=split(["a", "b"] * 10 + ["nan"]), validation=split(["a", "b", "NULL"]))
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: hub)
    assert "1 of 21 rows of the train split have no label" in load_error("org/name")
    data = load_text_classification("org/name", drop_invalid_rows=True)
    assert data.label_names == ["a", "b"] and len(data.eval) == 2 and len(data.notes) == 3
    # the hub's csv loader reads a repeated header as label, label.1
    hub["train"] = split(["a", "b"] * 10, {"label.1": ["b", "a"] * 10})
    assert "dataset 'org/name' (train split) has more than one column named 'label'" in load_error("org/name")


@pytest.mark.parametrize("kwargs", [{"max_train_samples": float("inf")}, {"max_eval_samples": float("nan")},
                                    {"validation_fraction": float("nan")}])
def test_non_finite_options(tmp_path, kwargs):
    message = load_error(str(write_csv(tmp_path / "a.csv", rows(20))), **kwargs)
    assert str(next(iter(kwargs.values()))) in message


def test_tokenize_counts_what_max_length_cuts(tmp_path):
    texts = ["sentence", "sentence number 1", "sentence number 12 34 56 78", "a b"] * 5
    write_csv(tmp_path / "train.csv", [{"text": t, "label": i % 2} for i, t in enumerate(texts)])
    write_csv(tmp_path / "validation.csv", [{"text": t, "label": i % 2} for i, t in enumerate(texts[:4])])
    data = load_text_classification(str(tmp_path))
    tokenizer = tiny_tokenizer(tmp_path)
    train, evaluation = tokenize(data, tokenizer, max_length=8)
    assert data.notes == ["max_length 8: 5 of 20 training and 1 of 4 evaluation examples were truncated (the model "
                          "never sees their ends); raise --max-length to keep more"]
    assert train.column_names == ["input_ids", "token_type_ids", "attention_mask", "labels"]
    reference = tokenizer(texts, truncation=True, max_length=8)
    assert train["input_ids"] == reference["input_ids"] and train["attention_mask"] == reference["attention_mask"]
    tokenize(data, tokenizer, max_length=8)
    assert len(data.notes) == 1  # said once
    exact = load_text_classification(str(tmp_path))
    tokenize(exact, tokenizer, max_length=9)  # [CLS] + 7 tokens + [SEP]: fits exactly, nothing cut
    assert exact.notes == []


def test_tokenize_counts_truncated_pairs(tmp_path):
    write_csv(tmp_path / "train.csv", [{"premise": "sentence number 12 34", "hypothesis": "a b 5 6 7" if i % 2 else "a",
                                        "label": i % 2} for i in range(10)])
    write_csv(tmp_path / "validation.csv", [{"premise": "a", "hypothesis": "b", "label": 1}])
    data = load_text_classification(str(tmp_path))
    tokenizer = tiny_tokenizer(tmp_path)
    train, _ = tokenize(data, tokenizer, max_length=10)
    reference = tokenizer(data.train["text"][:], data.train["text_pair"][:], truncation=True, max_length=10)
    assert train["input_ids"] == reference["input_ids"] and train["token_type_ids"] == reference["token_type_ids"]
    assert data.notes == ["max_length 10: 5 of 10 training and 0 of 1 evaluation examples were truncated (the model "
                          "never sees their ends); raise --max-length to keep more"]
