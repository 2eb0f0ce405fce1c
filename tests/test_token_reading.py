"""peftkit/token_reading.py: token-classification data in every form (CoNLL, JSON, JSONL, parquet, the hub),
read into the sentences CoNLL gives, and refused in one line when it cannot be."""

import json
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from peftkit import reading
from peftkit.data import load_text_classification
from peftkit.errors import PeftkitError
from peftkit.token_reading import is_token_dataset, read_token_splits

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CONLL, SST2 = SHARED / "conll2003", SHARED / "sst2"
NAMES = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
ROWS = [{"tokens": ["EU", "rejects", "German", "call"], "ner_tags": ["B-ORG", "O", "B-MISC", "O"]},
        {"tokens": ["Peter", "Blackburn"], "ner_tags": ["B-PER", "I-PER"]},
        {"tokens": ["BRUSSELS", "1996-08-22"], "ner_tags": ["B-ORG", "O"]}]
CONLL_TEXT = "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n"


def ids(rows):
    return [dict(row, ner_tags=[NAMES.index(t) for t in row["ner_tags"]]) for row in rows]


def write_rows(path: Path, rows: list[dict]) -> Path:
    """JSON lines, a JSON list of records, or parquet (arrow's own types), by the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows))
    else:
        datasets.Dataset.from_list(rows).to_parquet(str(path))
    return path


def labeled(rows, names=NAMES, feature=datasets.Sequence) -> datasets.Dataset:
    """A dataset as the hub ships one: tokens and ClassLabel ids."""
    features = datasets.Features({"tokens": feature(datasets.Value("string")),
                                  "ner_tags": feature(datasets.ClassLabel(names=names))})
    return datasets.Dataset.from_list(ids(rows), features=features)


def refused(call, *words) -> str:
    """The one-line message ``call`` raises; it says every one of ``words``."""
    with pytest.raises(PeftkitError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message, message
    for word in words:
        assert word in message, (word, message)
    return message


@pytest.fixture
def hub(monkeypatch):
    """Serve DatasetDicts as the hub would: ``hub({"name": DatasetDict})``; reading's own _read_hub runs."""
    def serve(served: dict):
        def load_dataset(repo, config=None, **_):
            key = f"{repo}:{config}" if config else repo
            if key not in served:
                raise FileNotFoundError(f"Dataset '{key}' doesn't exist on the Hub or cannot be accessed.")
            return served[key]
        monkeypatch.setattr(reading.datasets, "load_dataset", load_dataset)
    return serve


# -- reading ------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".parquet"])
def test_string_tags_in_each_file_type(tmp_path, suffix):
    path = write_rows(tmp_path / f"data{suffix}", ROWS)
    splits, scheme = read_token_splits(str(path))
    assert list(splits) == ["train"] and scheme == "IOB2"
    assert splits["train"].words == [r["tokens"] for r in ROWS]
    assert splits["train"].tags == [r["ner_tags"] for r in ROWS]
    assert splits["train"].source == f"the train split ({path})"
    assert is_token_dataset(str(path))


def test_words_and_tags_spelling(tmp_path):
    rows = [{"words": r["tokens"], "tags": r["ner_tags"]} for r in ROWS]
    splits, _ = read_token_splits(str(write_rows(tmp_path / "train.jsonl", rows)))
    assert splits["train"].tags[1] == ["B-PER", "I-PER"]


def test_classlabel_ids_in_a_parquet_file_datasets_wrote(tmp_path):
    path = tmp_path / "train.parquet"
    labeled(ROWS).to_parquet(str(path))  # keeps the ClassLabel names in the schema's metadata
    splits, scheme = read_token_splits(str(path))
    assert splits["train"].tags == [r["ner_tags"] for r in ROWS] and scheme == "IOB2"


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".parquet"])
def test_integer_ids_without_names_are_refused(tmp_path, suffix):
    path = write_rows(tmp_path / f"train{suffix}", ids(ROWS))
    refused(lambda: read_token_splits(str(path)), "column 'ner_tags'", "integer tag ids without their names",
            "write the tags as strings", "to_parquet")


def test_a_directory_of_splits_with_an_unlabeled_test(tmp_path):
    write_rows(tmp_path / "train.jsonl", ROWS)
    write_rows(tmp_path / "dev.jsonl", ROWS[1:])
    write_rows(tmp_path / "test.jsonl", [{"tokens": r["tokens"]} for r in ROWS])  # no tags: left out
    splits, _ = read_token_splits(str(tmp_path))
    assert {k: len(v) for k, v in splits.items()} == {"train": 3, "validation": 2}
    assert splits["validation"].source == f"the validation split ({tmp_path})"


def test_hub_splits_with_classlabel_names(hub):
    hub({"conll2003": datasets.DatasetDict(train=labeled(ROWS), validation=labeled(ROWS[1:]),
                                           test=labeled(ROWS[:1]))})
    splits, scheme = read_token_splits("conll2003")
    assert {k: len(v) for k, v in splits.items()} == {"train": 3, "validation": 2, "test": 1}
    assert splits["validation"].tags == [["B-PER", "I-PER"], ["B-ORG", "O"]] and scheme == "IOB2"
    assert splits["test"].source == "the test split (conll2003)"
    assert is_token_dataset("conll2003")


@pytest.mark.parametrize("feature", [datasets.Sequence, datasets.List, datasets.LargeList, lambda f: [f]])
def test_hub_dev_split_and_unlabeled_test_in_every_list_spelling(hub, feature):
    unlabeled = datasets.Dataset.from_dict(
        {"tokens": [["a", "b"]], "ner_tags": [[-1, -1]]},
        features=datasets.Features({"tokens": feature(datasets.Value("string")),
                                    "ner_tags": feature(datasets.ClassLabel(names=NAMES))}))
    hub({"wnut_17": datasets.DatasetDict(train=labeled(ROWS, feature=feature), dev=labeled(ROWS, feature=feature),
                                         test=unlabeled)})
    splits, _ = read_token_splits("wnut_17")
    assert sorted(splits) == ["train", "validation"]  # dev read as validation, the all -1 test left out


def test_label_column_picks_another_tags_column(hub):
    train = labeled(ROWS).add_column("chunk_tags", [["B-NP", "B-VP", "B-NP", "I-NP"], ["B-NP", "I-NP"],
                                                    ["B-NP", "I-NP"]])
    hub({"conll2003:chunks": datasets.DatasetDict(train=train)})
    splits, _ = read_token_splits("conll2003:chunks", label_column="chunk_tags")
    assert splits["train"].tags[0] == ["B-NP", "B-VP", "B-NP", "I-NP"]
    refused(lambda: read_token_splits("conll2003:chunks", label_column="pos_tags"),
            "column 'pos_tags' not found", "its columns: tokens, ner_tags, chunk_tags", "fix --label-column")


@pytest.mark.skipif(not CONLL.is_dir(), reason="needs ../shared/data/conll2003")
def test_the_shared_conll2003():
    splits, scheme = read_token_splits(str(CONLL))
    assert {k: len(v) for k, v in splits.items()} == {"train": 14041, "validation": 3250, "test": 3453}
    assert scheme == "IOB2" and splits["train"].words[0] == ["EU", "rejects", "German", "call", "to", "boycott",
                                                              "British", "lamb", "."]


def test_a_conll_file_takes_a_column_number_not_a_text_column(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text(CONLL_TEXT)
    assert read_token_splits(str(path), label_column="3")[0]["train"].tags[0] == ["B-NP", "B-VP"]
    refused(lambda: read_token_splits(str(path), text_column="tokens"), "CoNLL column data", "leave --text-column out")


# -- refusals -----------------------------------------------------------------------------------

def write_train(tmp_path, rows) -> str:
    return str(write_rows(tmp_path / "train.jsonl", rows))


def test_tokens_and_tags_of_different_lengths(tmp_path):
    rows = ROWS + [{"tokens": ["a", "b", "c"], "ner_tags": ["O", "O"]}]
    refused(lambda: read_token_splits(write_train(tmp_path, rows)), "row 4 of the train split", "3 tokens but 2 tags",
            "give every token one tag")


def test_an_empty_sentence(tmp_path):
    rows = ROWS[:1] + [{"tokens": [], "ner_tags": []}] + ROWS[1:]
    refused(lambda: read_token_splits(write_train(tmp_path, rows)), "row 2 of", "an empty sentence block",
            "remove the row")


def test_a_token_that_is_not_a_string(tmp_path):
    rows = ROWS + [{"tokens": ["a", None], "ner_tags": ["O", "O"]}]
    refused(lambda: read_token_splits(write_train(tmp_path, rows)), "row 4 of", "not a string (None)")
    numbers = [{"tokens": [1, 2], "ner_tags": ["O", "O"]}] * 2
    refused(lambda: read_token_splits(str(write_rows(tmp_path / "n.parquet", numbers))),
            "column 'tokens'", "holds lists of int64", "every token must be a string")


def test_an_invalid_tag(tmp_path):
    rows = ROWS + [{"tokens": ["a"], "ner_tags": ["X-PER"]}]
    refused(lambda: read_token_splits(write_train(tmp_path, rows)), "row 4 of the train split", "invalid tag 'X-PER'")


def test_a_tag_id_out_of_range_and_an_untagged_token(tmp_path, hub):
    # datasets itself refuses to encode an id past the names; a parquet file can still hold one
    metadata = labeled(ROWS).data.table.schema.metadata  # the ClassLabel names
    table = pa.table({"tokens": [["a"], ["b", "c"]], "ner_tags": [[0], [7, 0]]}).replace_schema_metadata(metadata)
    pq.write_table(table, tmp_path / "train.parquet")
    refused(lambda: read_token_splits(str(tmp_path / "train.parquet")), "row 2 of the train split", "tag id 7",
            "ids 0..6")
    untagged = datasets.Dataset.from_dict({"tokens": [["a"], ["b", "c"]], "ner_tags": [[0], [1, -1]]},
                                          features=labeled(ROWS).features)
    hub({"x": datasets.DatasetDict(train=untagged)})
    refused(lambda: read_token_splits("x"), "row 2 of the train split (x)", "a token without a tag (-1)")


def test_missing_columns_list_the_columns_seen(tmp_path):
    no_tokens = [{"text_tokens": r["tokens"], "ner_tags": r["ner_tags"]} for r in ROWS]
    refused(lambda: read_token_splits(write_train(tmp_path, no_tokens)), "has no tokens column",
            "looked for tokens, words", "its columns: text_tokens, ner_tags", "--text-column")
    assert read_token_splits(write_train(tmp_path, no_tokens), text_column="text_tokens")[0]["train"].words[1] == \
        ["Peter", "Blackburn"]
    no_tags = [{"tokens": r["tokens"], "entities": r["ner_tags"]} for r in ROWS]
    refused(lambda: read_token_splits(write_train(tmp_path, no_tags)), "has no tags column",
            "its columns: tokens, entities", "--label-column")


def test_an_eval_split_without_the_tokens_column(tmp_path):
    write_rows(tmp_path / "train.jsonl", ROWS)
    write_rows(tmp_path / "validation.jsonl", [{"words": r["tokens"], "ner_tags": r["ner_tags"]} for r in ROWS])
    refused(lambda: read_token_splits(str(tmp_path)), "the validation split", "has no column 'tokens'",
            "give every split the same columns")


def test_a_train_split_without_tags(tmp_path):
    rows = [{"tokens": r["tokens"], "ner_tags": None} for r in ROWS]
    refused(lambda: read_token_splits(write_train(tmp_path, rows)), "the train split", "has no tags",
            "pass a labeled train split")


def test_mixed_schemes_within_and_across_splits(tmp_path):
    mixed = ROWS + [{"tokens": ["a", "b"], "ner_tags": ["S-PER", "I-ORG"]}]
    refused(lambda: read_token_splits(write_train(tmp_path / "within", mixed)), "the train split", "mixes tag schemes")
    write_rows(tmp_path / "across" / "train.jsonl", ROWS)
    write_rows(tmp_path / "across" / "test.jsonl", [{"tokens": ["a", "b"], "ner_tags": ["S-PER", "O"]}] * 2)
    refused(lambda: read_token_splits(str(tmp_path / "across")), "the splits use different tag schemes",
            "train IOB2, test IOBES")


def test_an_eval_split_with_an_entity_type_train_never_has(tmp_path):
    write_rows(tmp_path / "train.jsonl", ROWS)
    write_rows(tmp_path / "valid.jsonl", [{"tokens": ["Paris", "x"], "ner_tags": ["B-LOC", "O"]}] * 2)
    refused(lambda: read_token_splits(str(tmp_path)), f"the validation split ({tmp_path}) has entity types the "
            "train split never has: LOC", "--eval-split")


def test_tokens_written_as_one_string(tmp_path):
    rows = [{"tokens": " ".join(r["tokens"]), "ner_tags": r["ner_tags"]} for r in ROWS]
    refused(lambda: read_token_splits(write_train(tmp_path, rows)), "column 'tokens'", "one value per row",
            "list of words")


@pytest.mark.skipif(not SST2.is_dir(), reason="needs ../shared/data/sst2")
def test_sentence_classification_data_is_refused(tmp_path):
    for dataset in (str(SST2), str(SST2 / "train.csv")):
        refused(lambda: read_token_splits(dataset), f"{dataset} is sentence-classification data",
                "columns text, label: one label per row", "tokens + ner_tags", "drop --task token-classification")
    path = write_train(tmp_path, [{"text": "great film", "label": "pos"}, {"text": "dull", "label": "neg"}])
    refused(lambda: read_token_splits(path), "sentence-classification data (columns text, label")


# -- telling token data from sentence data ----------------------------------------------------------

def test_is_token_dataset(tmp_path, hub):
    (tmp_path / "conll").mkdir()
    (tmp_path / "conll" / "train.txt").write_text(CONLL_TEXT)
    assert is_token_dataset(str(tmp_path / "conll")) and is_token_dataset(str(tmp_path / "conll" / "train.txt"))
    assert is_token_dataset(str(write_rows(tmp_path / "tokens" / "train.parquet", ROWS).parent))
    assert not is_token_dataset(write_train(tmp_path / "text", [{"text": "a b", "label": 1}] * 2))
    assert not is_token_dataset(str(tmp_path / "missing.jsonl"))
    (tmp_path / "bad.json").write_text("{not json")
    assert not is_token_dataset(str(tmp_path / "bad.json"))
    sentences = datasets.Dataset.from_dict({"sentence": ["a", "b"], "label": [0, 1]})
    hub({"glue:sst2": datasets.DatasetDict(train=sentences)})
    assert not is_token_dataset("glue:sst2")
    assert not is_token_dataset("no/such_dataset")  # the hub refuses it: False, the loader will say why


@pytest.mark.skipif(not (CONLL.is_dir() and SST2.is_dir()), reason="needs ../shared/data")
def test_is_token_dataset_on_the_shared_data():
    assert is_token_dataset(str(CONLL)) and is_token_dataset(str(CONLL / "train.txt"))
    assert not is_token_dataset(str(SST2)) and not is_token_dataset(str(SST2 / "train.csv"))


def test_sequence_classification_refuses_token_data(tmp_path):
    (tmp_path / "conll").mkdir()
    (tmp_path / "conll" / "train.txt").write_text(CONLL_TEXT)
    for dataset, found in ((tmp_path / "conll", "CoNLL columns"),
                           (tmp_path / "conll" / "train.txt", "CoNLL columns"),
                           (write_train(tmp_path, ROWS), "column 'tokens' holds lists of tokens")):
        refused(lambda: load_text_classification(str(dataset)), f"{dataset} is token-classification data ({found}",
                "pass --task token-classification", "it is inferred from the data")
    rows = [{"text": r["tokens"], "label": i % 2} for i, r in enumerate(ROWS)]
    text_lists = write_rows(tmp_path / "lists.jsonl", rows)
    refused(lambda: load_text_classification(str(text_lists)), "column 'text' holds lists of tokens")
    # a list column that is not the text column leaves sentence data alone
    rows = [{"text": f"film {i}", "tokens": ["film", str(i)], "label": i % 2} for i in range(20)]
    assert load_text_classification(str(write_rows(tmp_path / "fine.jsonl", rows))).text_column == "text"


def test_a_jsonl_file_of_one_sentence_is_one_row(tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text('{"tokens": ["John", "flew"], "tags": ["B-PER", "O"]}\n')
    splits, scheme = read_token_splits(str(path))
    assert splits["train"].words == [["John", "flew"]] and splits["train"].tags == [["B-PER", "O"]]
