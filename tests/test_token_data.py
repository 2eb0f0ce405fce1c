"""peftkit/token_data.py and the token task's metrics: tags to ids, words to sub-tokens, every word scored."""

from pathlib import Path

import datasets
import numpy as np
import pytest

from peftkit.tasks import get_task
from peftkit.tasks.token_classification import word_tags
from peftkit.token_data import (LABELLED_WORDS, WORD_LABELS, TokenClassificationData, align, first_sub_tokens,
                                tag_names, tokenize)

NAMES = tag_names(["LOC", "PER"], "IOB2")


def wordpiece(directory: Path):
    from transformers import BertTokenizerFast

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "john", "smith", "flew", "to", "berlin", "ber", "##lin",
             "new", "york", "##er", "."]
    (directory / "vocab.txt").write_text("\n".join(words) + "\n")
    return BertTokenizerFast.from_pretrained(str(directory), do_lower_case=True)


def data(sentences: list[tuple[list[str], list[str]]]) -> TokenClassificationData:
    ids = {n: i for i, n in enumerate(NAMES)}
    split = datasets.Dataset.from_dict({"tokens": [w for w, _ in sentences],
                                        "tags": [[ids[t] for t in tags] for _, tags in sentences]})
    return TokenClassificationData(split, split, NAMES, "IOB2", "validation")


def test_tag_names_cover_every_tag_the_scheme_writes():
    assert NAMES == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert tag_names(["X"], "IOBES") == ["O", "B-X", "I-X", "E-X", "S-X"]


def test_first_sub_token_carries_the_tag_the_others_are_ignored():
    assert align([None, 0, 1, 1, 2, None], [3, 4, 1], None) == [-100, 3, 4, -100, 1, -100]
    inside = [0, 2, 2, 4, 4]  # subword_labels=all: B-X's later pieces are I-X
    assert align([None, 0, 1, 1, 2, None], [3, 4, 1], inside) == [-100, 3, 4, 4, 1, -100]
    assert first_sub_tokens([None, 0, 1, 1, 3, None]) == [0, 1, 3]  # word 2 had no sub-token


def test_tokenize_aligns_and_counts_the_words_the_limit_cuts(tmp_path):
    tokenizer = wordpiece(tmp_path)
    d = data([(["John", "Smith", "flew", "to", "Berlin"], ["B-PER", "I-PER", "O", "O", "B-LOC"]),
              (["Yorker"], ["B-LOC"])])  # york ##er
    train, evaluation = tokenize(d, tokenizer, max_length=6)  # [CLS] + 4 words + [SEP]: Berlin (ber ##lin) is cut
    assert train["labels"][0] == [-100, 3, 4, 0, 0, -100]
    assert train["labels"][1] == [-100, 1, -100, -100]
    assert evaluation[WORD_LABELS][0] == [3, 4, 0, 0, 1] and evaluation[LABELLED_WORDS][0] == [0, 1, 2, 3]
    assert any("1 of 6 training and 1 of 6 evaluation words were cut off" in n for n in d.notes)
    every, _ = tokenize(d, tokenizer, max_length=6, subword_labels="all")
    assert every["labels"][1] == [-100, 1, 2, -100]  # york B-LOC, ##er I-LOC


def test_a_cut_entity_is_scored_as_missed(tmp_path):
    tokenizer = wordpiece(tmp_path)
    d = data([(["John", "Smith", "flew", "to", "Berlin"], ["B-PER", "I-PER", "O", "O", "B-LOC"])])
    _, evaluation = tokenize(d, tokenizer, max_length=6)
    labels = np.array(evaluation["labels"])
    logits = np.zeros((1, labels.shape[1], len(NAMES)))
    for position, tag in enumerate(labels[0]):  # a perfect model on what it sees
        if tag != -100:
            logits[0, position, tag] = 5.0
    truth, predicted = word_tags(logits, labels, evaluation, NAMES)
    assert truth == [["B-PER", "I-PER", "O", "O", "B-LOC"]] and predicted == [["B-PER", "I-PER", "O", "O", "O"]]
    metrics = get_task("token-classification").metrics(logits, labels, d, evaluation)
    assert metrics["precision_entity"] == 1.0 and metrics["recall_entity"] == 0.5  # Berlin: missed, not dropped
    assert metrics["f1_per_type"] == {"LOC": 0.0, "PER": 1.0}


def test_predictions_in_another_order_are_refused(tmp_path):
    tokenizer = wordpiece(tmp_path)
    d = data([(["John"], ["B-PER"]), (["Berlin", "to"], ["B-LOC", "O"])])
    _, evaluation = tokenize(d, tokenizer, max_length=16)
    width = max(len(x) for x in evaluation["labels"])
    labels = np.array([x + [-100] * (width - len(x)) for x in evaluation["labels"]])
    logits = np.zeros((2, width, len(NAMES)))
    with pytest.raises(ValueError, match="not row 0"):
        word_tags(logits, labels[::-1], evaluation, NAMES)


# -- loading: the eval split, holding out, subsampling -----------------------------------------------------

def conll_dir(root: Path, splits=("train", "valid", "test")) -> Path:
    root.mkdir()
    for k, split in enumerate(splits):
        sentences = [f"John B-PER\nflew O\nto O\n{split}{i} B-LOC\n" for i in range(20 + k)]
        (root / f"{split}.txt").write_text("-DOCSTART- O\n\n" + "\n".join(sentences))
    return root


def test_validation_first_then_test_then_a_held_out_share(tmp_path):
    from peftkit.token_data import load_token_classification

    d = load_token_classification(str(conll_dir(tmp_path / "a")))
    assert (d.eval_split, len(d.train), len(d.eval), d.num_labels) == ("validation", 20, 21, 5)
    assert d.label_names == NAMES and d.scheme == "IOB2"
    assert load_token_classification(str(tmp_path / "a"), eval_split="test").eval_split == "test"
    alone = load_token_classification(str(conll_dir(tmp_path / "b", ("train",))), seed=3)
    assert (len(alone.train), len(alone.eval)) == (18, 2) and "held out" in alone.eval_split
    again = load_token_classification(str(tmp_path / "b"), seed=3)
    assert again.eval["tokens"] == alone.eval["tokens"]  # the seed decides which


def test_holdout_scores_on_training_data_never_on_the_validation_split(tmp_path):
    from peftkit.token_data import load_token_classification

    d = load_token_classification(str(conll_dir(tmp_path / "a")), holdout=True, max_train_samples=10)
    assert len(d.train) == 10 and len(d.eval) == 2 and "not used" in d.eval_split
    assert all(words[-1].startswith("train") for words in d.eval["tokens"])  # not valid.txt's sentences
    assert any("max_train_samples: 10 of 18 sentences" in n for n in d.notes)


def test_a_sentence_pair_column_is_refused(tmp_path):
    from peftkit.errors import PeftkitError
    from peftkit.token_data import load_token_classification

    with pytest.raises(PeftkitError, match="text-pair-column"):
        load_token_classification(str(conll_dir(tmp_path / "a")), text_pair_column="x")


def test_the_estimate_counts_a_token_head_on_every_position():
    from peftkit.estimate import estimate_memory
    from peftkit.tiny import tiny_config

    sentence, token = (estimate_memory(tiny_config("bert"), "head", 8, 32, num_labels=9, task=task, device="cpu")
                       for task in ("sequence-classification", "token-classification"))
    # the token head keeps its input and logits for 8 x 32 positions, the sentence head for 8 vectors
    assert token.activations > sentence.activations
    assert token.activation_breakdown["head"] >= 8 * 32 * (32 + 9 * 2) * 4
