"""Turning a dataset argument into train/eval splits for token classification, and tokenizing them.

``dataset`` is read by ``token_reading.read_token_splits``: a CoNLL file or directory, JSON/JSONL/parquet
with list columns (``tokens`` + ``ner_tags``/``tags``), or a hub dataset. The tags become ids over every
tag the scheme can write for the train split's entity types (``O`` first, then each type's ``B-``, ``I-``
[, ``E-``, ``S-``]), so that a prediction can be any of them. Without a validation or test split, a share
of the train sentences (seeded) is held out; ``holdout`` (``--search lr``) always scores on such a share.

Tokenizing aligns the word tags with sub-tokens as transformers' token-classification example does: the
first sub-token of a word carries its tag, the others ``-100`` (ignored by the loss), or with
``subword_labels="all"`` every sub-token (a ``B-`` word's later pieces get its ``I-`` tag). The eval split
is always labelled on first sub-tokens, and keeps every word's tag (``word_labels``) and the word of each
labelled sub-token (``labelled_words``): a word that
``max_length`` cut off is scored as predicted ``O``, a missed entity if it was one, and a note says how many
words were cut.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import datasets
import numpy as np

from .errors import PeftkitError
from .reading import SPLIT_ALIASES
from .settings import HOLDOUT_SPLIT
from .tagging import entity_types

PREFIXES = {"IOB1": ("B", "I"), "IOB2": ("B", "I"), "IOBES": ("B", "I", "E", "S")}
# the eval split's columns that the model never reads: every word's tag id, and which word each labelled
# sub-token (each label that is not -100, in order) stands for
WORD_LABELS, LABELLED_WORDS = "word_labels", "labelled_words"


@dataclass
class TokenClassificationData:
    train: datasets.Dataset  # columns: tokens (list of words), tags (list of tag ids)
    eval: datasets.Dataset
    label_names: list[str]  # index = tag id
    scheme: str  # IOB1, IOB2 or IOBES
    eval_split: str
    notes: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


def tag_names(types: list[str], scheme: str) -> list[str]:
    """Every tag of ``scheme`` for the entity ``types``: O, then B-, I- (, E-, S-) of each type."""
    return ["O", *(f"{prefix}-{kind}" for kind in types for prefix in PREFIXES[scheme])]


def _dataset(sentences, ids: dict[str, int]) -> datasets.Dataset:
    return datasets.Dataset.from_dict(
        {"tokens": sentences.words, "tags": [[ids[t] for t in tags] for tags in sentences.tags]},
        features=datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                    "tags": datasets.Sequence(datasets.Value("int64"))}))


def _choose_eval(splits: dict, eval_split: str | None) -> str | None:
    if eval_split:
        name = SPLIT_ALIASES.get(eval_split.lower(), eval_split)
        if name not in splits:
            raise PeftkitError(f"split '{eval_split}' not found; the splits are: {', '.join(splits)}; fix --eval-split")
        return name
    return next((name for name in ("validation", "test") if name in splits), None)


def _hold_out(split: datasets.Dataset, fraction: float, seed: int) -> tuple[datasets.Dataset, datasets.Dataset]:
    n_held = math.ceil(len(split) * fraction)
    if len(split) < 2 or n_held >= len(split):
        raise PeftkitError(f"the train split has too few sentences ({len(split)}) to hold out an eval split; "
                           "add a validation file or pass --eval-split")
    order = np.random.default_rng(seed).permutation(len(split))
    held = sorted(order[:n_held].tolist())
    kept = sorted(order[n_held:].tolist())
    return split.select(kept), split.select(held)


def _subsample(split: datasets.Dataset, n: int | None, seed: int, what: str, notes: list[str]) -> datasets.Dataset:
    if n is None or n >= len(split):
        return split
    chosen = np.random.default_rng(seed).permutation(len(split))[:n]
    notes.append(f"{what}: {n} of {len(split)} sentences, chosen with seed {seed}")
    return split.select(sorted(chosen.tolist()))


def load_token_classification(dataset: str, *, text_column: str | None = None, text_pair_column: str | None = None,
                              label_column: str | None = None, eval_split: str | None = None, seed: int = 0,
                              max_train_samples: int | None = None, max_eval_samples: int | None = None,
                              validation_fraction: float = 0.1, drop_invalid_rows: bool = False,
                              holdout: bool = False) -> TokenClassificationData:
    """Train and eval splits of ``dataset`` with columns tokens, tags (ids into ``label_names``).
    ``holdout``: score on a seeded share of the train sentences, never on the evaluation split.
    ``drop_invalid_rows`` has nothing to drop here (an empty sentence block is refused, never skipped)."""
    from .token_reading import read_token_splits

    if text_pair_column:
        raise PeftkitError("--text-pair-column is for sentence pairs; token classification tags one sentence at "
                           "a time: leave it out")
    if not 0 < validation_fraction < 1:
        raise PeftkitError(f"validation_fraction must be between 0 and 1, got {validation_fraction}")
    splits, scheme = read_token_splits(str(dataset), label_column=label_column, text_column=text_column)
    types = entity_types(splits["train"].tags)
    if not types:
        raise PeftkitError(f"the train split of {dataset} has no entity (every tag is O); check the data or "
                           "--label-column")
    names = tag_names(types, scheme)
    ids = {name: i for i, name in enumerate(names)}
    notes: list[str] = []
    train = _dataset(splits["train"], ids)
    holdout = holdout or eval_split == HOLDOUT_SPLIT
    chosen = _choose_eval(splits, None if holdout else eval_split)
    if chosen == "train":
        evaluation = train
        notes.append("evaluating on the train split itself (--eval-split train): scores will be optimistic")
    elif chosen:
        evaluation = _dataset(splits[chosen], ids)
    else:
        train, evaluation = _hold_out(train, validation_fraction, seed)
        chosen = f"train ({validation_fraction * 100:g}% of the sentences held out, seed {seed})"
        notes.append(f"no validation split: held out {validation_fraction * 100:g}% of train ({len(evaluation)} "
                     f"sentences), seed {seed}")
    if holdout:
        train, evaluation = _hold_out(train, validation_fraction, seed)
        chosen = (f"held out from the training data ({validation_fraction * 100:g}% of the sentences, seed {seed}); "
                  f"the evaluation split ({chosen or 'held out'}) is not used")
    train = _subsample(train, max_train_samples, seed, "max_train_samples", notes)
    evaluation = _subsample(evaluation, max_eval_samples, seed, "max_eval_samples", notes)
    return TokenClassificationData(train, evaluation, names, scheme, chosen, notes, str(dataset))


# -- tokenizing: words to sub-tokens ---------------------------------------------------------------

def _inside(names: list[str]) -> list[int]:
    """For each tag id, the id a later sub-token of its word gets with subword_labels=all (B-X: I-X)."""
    ids = {name: i for i, name in enumerate(names)}
    return [ids.get("I-" + name[2:], i) if name[:2] in ("B-", "S-") else i for i, name in enumerate(names)]


def align(word_ids: list[int | None], tags: list[int], inside: list[int] | None) -> list[int]:
    """Sub-token labels from word tags: the first sub-token of a word its tag, the others -100, or (``inside``
    given) ``inside[tag]``; special tokens -100."""
    labels, previous = [], None
    for word in word_ids:
        if word is None:
            labels.append(-100)
        elif word != previous:
            labels.append(tags[word])
        else:
            labels.append(inside[tags[word]] if inside is not None else -100)
        previous = word
    return labels


def first_sub_tokens(word_ids: list[int | None]) -> list[int]:
    """The word of each first sub-token, in order (a word cut off, or with no sub-token, is not there)."""
    out, previous = [], None
    for word in word_ids:
        if word is not None and word != previous:
            out.append(word)
        previous = word
    return out


def check_fast(tokenizer) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise PeftkitError(f"token classification needs a fast tokenizer (word alignment), and "
                           f"{type(tokenizer).__name__} is not one; save the model with its tokenizer.json")


def encode(split: datasets.Dataset, tokenizer, max_length: int, inside: list[int] | None = None,
           keep_words: bool = False) -> tuple[datasets.Dataset, int, int]:
    """(the tokenized split, words cut off by ``max_length``, words): labels aligned by ``align``;
    ``keep_words``: also the columns the eval split's metrics read (``WORD_LABELS``, ``LABELLED_WORDS``)."""
    check_fast(tokenizer)
    words, tags = split["tokens"][:], split["tags"][:]
    encoded = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)
    columns = {k: list(v) for k, v in encoded.items()}
    columns["labels"], cut = [], 0
    for i, sentence in enumerate(tags):
        word_ids = encoded.word_ids(i)
        columns["labels"].append(align(word_ids, sentence, inside))
        cut += len(sentence) - (max((w for w in word_ids if w is not None), default=-1) + 1)
    if keep_words:
        columns[WORD_LABELS] = [list(t) for t in tags]
        columns[LABELLED_WORDS] = [first_sub_tokens(encoded.word_ids(i)) for i in range(len(tags))]
    return datasets.Dataset.from_dict(columns), cut, sum(len(t) for t in tags)


def tokenize(data: TokenClassificationData, tokenizer, max_length: int,
             subword_labels: str = "first") -> tuple[datasets.Dataset, datasets.Dataset]:
    """Tokenized (train, eval): input_ids, attention_mask, [token_type_ids], labels (one per sub-token); the
    eval split also ``word_labels`` and ``labelled_words``. Not padded (the collator pads, labels with -100)."""
    if not max_length > 0:
        raise PeftkitError(f"max-length must be positive, got {max_length}")
    if subword_labels not in ("first", "all"):
        raise PeftkitError(f"subword-labels must be first or all, got {subword_labels!r}")
    inside = _inside(data.label_names) if subword_labels == "all" else None
    train, cut_train, words_train = encode(data.train, tokenizer, max_length, inside)
    evaluation, cut_eval, words_eval = encode(data.eval, tokenizer, max_length, keep_words=True)
    if cut_train or cut_eval:
        note = (f"max_length {max_length}: {cut_train:,} of {words_train:,} training and {cut_eval:,} of "
                f"{words_eval:,} evaluation words were cut off (the model never sees them; in the metrics they count "
                "as predicted O, so a cut entity is a missed one); raise --max-length to keep more")
        if note not in data.notes:
            data.notes.append(note)
    return train, evaluation
