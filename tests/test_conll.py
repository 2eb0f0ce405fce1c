"""peftkit/conll.py: CoNLL column files, read as they ship, and refused in one line when they cannot be."""

import re
from pathlib import Path

import pytest

from peftkit.conll import conll_files, looks_like_conll, read_conll, read_splits
from peftkit.errors import PeftkitError

CONLL = Path(__file__).resolve().parents[2] / "shared" / "data" / "conll2003"
SAMPLE = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
"""


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text)
    return directory / name


def test_reads_sentences_and_skips_docstart(tmp_path):
    s = read_conll(write(tmp_path, "train.txt", SAMPLE))
    assert s.words == [["EU", "rejects", "German"], ["Peter", "Blackburn"]]
    assert s.tags == [["B-ORG", "O", "B-MISC"], ["B-PER", "I-PER"]]


def test_label_column_is_a_column_number(tmp_path):
    path = write(tmp_path, "train.txt", SAMPLE)
    assert read_conll(path, "3").tags[1] == ["B-NP", "I-NP"]  # the chunk tags
    with pytest.raises(PeftkitError, match="--label-column 7: .* has 4 columns \\(1 is the word\\); pass 2..4"):
        read_conll(path, "7")
    with pytest.raises(PeftkitError, match="whose columns have no names: pass --label-column as a column number"):
        read_conll(path, "ner_tags")


def test_ragged_columns_name_the_line(tmp_path):
    path = write(tmp_path, "train.txt", SAMPLE + "Smith NNP B-PER\n")
    with pytest.raises(PeftkitError, match=f"{path}:9 has 3 columns where line 3 has 4: every token line needs"):
        read_conll(path)


def test_an_invalid_tag_names_the_line(tmp_path):
    path = write(tmp_path, "train.txt", SAMPLE.replace("B-PER", "X-PER"))
    with pytest.raises(PeftkitError, match=f"{path}:7: invalid tag 'X-PER'"):
        read_conll(path)


def test_a_file_without_sentences_is_refused(tmp_path):
    with pytest.raises(PeftkitError, match="holds no sentence"):
        read_conll(write(tmp_path, "train.txt", "-DOCSTART- -X- -X- O\n\n\n"))


def test_sentences_say_where_they_come_from(tmp_path):
    path = write(tmp_path, "train.txt", SAMPLE)
    assert read_conll(path).source == str(path)
    write(tmp_path, "dev.txt", SAMPLE)
    splits, _ = read_splits(tmp_path)
    assert splits["validation"].source == f"the validation split ({tmp_path / 'dev.txt'})"


def test_a_split_that_mixes_schemes_is_named(tmp_path):
    write(tmp_path, "train.txt", SAMPLE.replace("B-MISC", "S-MISC").replace("B-PER", "I-PER"))
    with pytest.raises(PeftkitError, match=re.escape(f"the train split ({tmp_path / 'train.txt'}) mixes tag schemes")):
        read_splits(tmp_path)


def test_a_directory_names_its_splits(tmp_path):
    write(tmp_path, "train.txt", SAMPLE)
    write(tmp_path, "valid.txt", SAMPLE)
    write(tmp_path, "test.txt", SAMPLE)
    write(tmp_path, "README.md", "# notes\n")
    assert sorted(conll_files(tmp_path)) == ["test", "train", "validation"]
    splits, scheme = read_splits(tmp_path)
    assert scheme == "IOB2" and len(splits["validation"]) == 2


def test_an_entity_type_train_never_has_is_refused(tmp_path):
    write(tmp_path, "train.txt", SAMPLE)
    write(tmp_path, "valid.txt", SAMPLE.replace("B-MISC", "B-EVENT"))
    with pytest.raises(PeftkitError, match="the validation split .* has entity types the train split never has: EVENT"):
        read_splits(tmp_path)


def test_splits_in_different_schemes_are_refused(tmp_path):
    write(tmp_path, "train.txt", SAMPLE)
    write(tmp_path, "valid.txt", SAMPLE.replace("B-PER", "S-PER").replace("I-PER", "O"))
    with pytest.raises(PeftkitError, match="the splits use different tag schemes \\(train IOB2, validation IOBES\\)"):
        read_splits(tmp_path)


def test_a_csv_is_not_conll(tmp_path):
    assert looks_like_conll(write(tmp_path, "train.txt", SAMPLE))
    assert not looks_like_conll(write(tmp_path, "train.csv", "text,label\ngreat film,1\n"))
    assert not looks_like_conll(write(tmp_path, "t.tsv", "text\tlabel\ngreat\t1\n"))


@pytest.mark.skipif(not CONLL.is_dir(), reason="needs ../shared/data/conll2003")
def test_the_shared_conll2003_as_its_readme_counts_it():
    splits, scheme = read_splits(CONLL)
    counts = {name: (len(s), sum(map(len, s.words))) for name, s in splits.items()}
    assert counts == {"train": (14041, 203621), "validation": (3250, 51362), "test": (3453, 46435)}
    assert scheme == "IOB2"


def test_a_tab_separated_conll_file_is_recognised(tmp_path):
    from peftkit.token_reading import is_token_dataset

    path = tmp_path / "wnut.txt"
    path.write_text("@paul\tO\nflew\tO\nto\tO\nBerlin\tB-location\n\n")
    assert looks_like_conll(path) and is_token_dataset(str(path))
    tsv = tmp_path / "sentences.tsv"
    tsv.write_text("text\tlabel\nthe film is great\t1\n")
    assert not looks_like_conll(tsv)
