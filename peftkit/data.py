"""Turning a dataset argument into train/eval splits for sequence classification.

``dataset`` is a local file (csv, tsv, json, jsonl, parquet: used as train), a directory of
train/validation/test files, or a hub name (``imdb``, ``glue/sst2``, ``name:config``) loaded with
``datasets``. Columns are detected (``text``/``sentence``/..., ``label``/...) unless named; labels
become ids 0..K-1 (string names kept for reports). Without a usable validation or test split, a
stratified share of train is held out with the seed. A label that is empty, None or written as a
missing value (``NaN``, ``NA``, ``null``...) is missing, never a class; rows with a missing label or an
empty text are refused, or dropped with ``drop_invalid_rows``. Everything the user must know goes to
``notes``; every problem is a one-line PeftkitError naming the fix. Reading files and the hub:
``reading.py``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable

import datasets
import numpy as np

from .errors import PeftkitError
from .reading import FILE_TYPES, SPLIT_ALIASES, read_splits  # noqa: F401 - FILE_TYPES: part of this API
from .settings import HOLDOUT_SPLIT
from .token_reading import refuse_token_data

TEXT_COLUMNS = ("text", "sentence", "sentence1", "review", "content", "document", "question", "question1", "premise")
PAIR_COLUMNS = ("text_pair", "sentence2", "question2", "hypothesis")
PAIRED_FIRST = ("sentence1", "question1", "premise")  # a pair column is looked for only after these
LABEL_COLUMNS = ("label", "labels", "class", "target", "sentiment")

LabelEncoder = Callable[[object], "int | None"]  # a raw label value -> its id (None: not a known label)


@dataclass
class TextClassificationData:
    train: datasets.Dataset  # columns: text, [text_pair], label (int)
    eval: datasets.Dataset  # the same columns
    label_names: list[str]  # index = label id
    text_column: str  # the source columns that were used
    text_pair_column: str | None
    label_column: str
    eval_split: str  # "validation", "test", or "train (stratified 10% held out, seed S)"
    notes: list[str] = field(default_factory=list)  # what the user must be told
    source: str = ""  # the dataset argument as given

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


def _values(split: datasets.Dataset, column: str) -> list:
    return split[column][:]  # a list (datasets >= 4 gives a lazy Column, slow to iterate)


# -- columns ------------------------------------------------------------------------------------

def _find_column(columns: list[str], given: str | None, candidates: tuple[str, ...], what: str, option: str) -> str:
    if given:
        if given not in columns:
            raise PeftkitError(f"{what} column '{given}' not found; the columns are: {', '.join(columns)}; "
                               f"fix {option}")
        return given
    found = next((c for c in candidates if c in columns), None)
    if found is None:
        raise PeftkitError(f"no {what} column found (looked for {', '.join(candidates)}); the columns are: "
                           f"{', '.join(columns)}; pass {option}")
    return found


def _choose_columns(columns: list[str], text_column: str | None, text_pair_column: str | None,
                    label_column: str | None) -> tuple[str, str | None, str]:
    text = _find_column(columns, text_column, TEXT_COLUMNS, "text", "--text-column")
    if text_pair_column:
        pair = _find_column(columns, text_pair_column, PAIR_COLUMNS, "text pair", "--text-pair-column")
    else:
        pair = next((c for c in PAIR_COLUMNS if c in columns), None) if text in PAIRED_FIRST else None
    label = _find_column(columns, label_column, LABEL_COLUMNS, "label", "--label-column")
    used = [c for c in (text, pair, label) if c]
    if len(set(used)) < len(used):
        raise PeftkitError(f"the same column is used twice (text '{text}', pair '{pair}', label '{label}'); "
                           "pass distinct --text-column, --text-pair-column and --label-column")
    return text, pair, label


# -- labels -------------------------------------------------------------------------------------

MISSING_SPELLINGS = ("nan", "na", "n/a", "null", "<na>")  # a label written like this is missing, not a class


def _is_missing(value, feature=None) -> bool:
    if _empty_text(value):
        return True
    if isinstance(value, str) and value.strip().lower() in MISSING_SPELLINGS:
        return True
    return isinstance(feature, datasets.ClassLabel) and value == -1  # datasets' "no label"


def _has_labels(split: datasets.Dataset, label: str) -> bool:
    """False for a split without the label column or with only -1/missing labels (GLUE's test splits)."""
    if label not in split.column_names:
        return False
    return not all(_is_missing(v) or v == -1 for v in _values(split, label))


def _integral(value) -> bool:
    return (isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))) or \
        (isinstance(value, (float, np.floating)) and float(value).is_integer())


def _label_values(split: datasets.Dataset, column: str) -> list:
    """The labels of ``split``; a column of whole numbers written as text ("0", "1", and "NaN" for the missing
    ones, as a csv reads it) as numbers, so that it means what the same numbers mean in another split."""
    values = _values(split, column)
    present = [v for v in values if not _is_missing(v)]
    if present and all(isinstance(v, str) and re.fullmatch(r"\s*[-+]?\d+\s*", v) for v in present):
        return [v if _is_missing(v) else int(v) for v in values]
    return values


def _label_encoder(values: list, feature, column: str) -> tuple[LabelEncoder, list[str], list[str]]:
    """(value -> id, label names, notes), from the train labels (none missing)."""
    if isinstance(feature, datasets.ClassLabel):
        k = feature.num_classes
        return (lambda v: int(v) if _integral(v) and 0 <= v < k else None), list(feature.names), []
    distinct = set(values)
    if all(_integral(v) for v in distinct):
        ordered = sorted({int(v) for v in distinct})
        ids = {v: i for i, v in enumerate(ordered)}
        encode = lambda v: ids.get(int(v)) if _integral(v) else None  # noqa: E731
        if ordered == list(range(len(ordered))):
            return encode, [str(v) for v in ordered], []
        return encode, [str(v) for v in ordered], [
            f"labels {', '.join(map(str, ordered))} were not 0..{len(ordered) - 1}: mapped to ids in sorted order"]
    floats = [v for v in distinct if isinstance(v, (float, np.floating)) and not _integral(v)]
    if floats:
        raise PeftkitError(f"label column '{column}' holds non-integer numbers (e.g. {floats[0]}), not classes; "
                           "pass a column of class labels with --label-column")
    if all(isinstance(v, (bool, np.bool_)) for v in distinct):
        ordered = sorted({bool(v) for v in distinct})
        return (lambda v: ordered.index(v) if isinstance(v, (bool, np.bool_)) and v in ordered else None), \
            [str(v) for v in ordered], [f"labels were booleans: mapped to ids {_mapping_text(ordered)}"]
    ordered = sorted({str(v) for v in distinct})
    ids = {v: i for i, v in enumerate(ordered)}
    return (lambda v: ids.get(str(v))), ordered, [
        f"labels were strings: mapped to ids 0..{len(ordered) - 1} in sorted order ({_mapping_text(ordered)})"]


def _mapping_text(names: list) -> str:
    shown = ", ".join(f"{n}={i}" for i, n in enumerate(names[:10]))
    return shown + (f", ... ({len(names)} labels)" if len(names) > 10 else "")


def _check_labels_present(split_name: str, split: datasets.Dataset, column: str) -> None:
    feature = split.features.get(column)
    missing = sum(_is_missing(v, feature) for v in _values(split, column))
    if missing:
        raise PeftkitError(f"{missing} of {len(split)} rows of the {split_name} split have no label "
                           f"(empty, NaN, NA, null or None in '{column}'); fill them in, or pass "
                           "--drop-invalid-rows to drop those rows")


def _encode_labels(split_name: str, split: datasets.Dataset, column: str, encode: LabelEncoder,
                   known: set[int] | None) -> list[int]:
    """Label ids; ``known``: the ids the train split has (None for train itself)."""
    _check_labels_present(split_name, split, column)
    values = _label_values(split, column)
    ids = [encode(v) for v in values]
    unseen = sorted({str(v) for v, i in zip(values, ids) if i is None or (known is not None and i not in known)})
    if unseen:
        raise PeftkitError(f"the {split_name} split has labels the train split never has: {', '.join(unseen[:10])}; "
                           "fix the data or pass another --eval-split")
    return ids


# -- texts and the output datasets -----------------------------------------------------------------

def _empty_text(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or \
        (isinstance(value, str) and not value.strip())


def _drop_invalid(split_name: str, split: datasets.Dataset, columns: tuple[str | None, ...], label: str,
                  notes: list[str]) -> datasets.Dataset:
    """``split`` without the rows whose text (any of ``columns``) is empty or whose label is missing
    (--drop-invalid-rows); how many goes to ``notes``."""
    bad = {i for c in columns if c and c in split.column_names
           for i, v in enumerate(_values(split, c)) if _empty_text(v)}
    if label in split.column_names:
        feature = split.features.get(label)
        bad |= {i for i, v in enumerate(_values(split, label)) if _is_missing(v, feature)}
    if not bad:
        return split
    notes.append(f"--drop-invalid-rows: dropped {len(bad):,} of {len(split):,} rows of the {split_name} split "
                 "(an empty text or a missing label)")
    return split.select([i for i in range(len(split)) if i not in bad])


def _texts(split_name: str, split: datasets.Dataset, column: str, option: str) -> list[str]:
    if column not in split.column_names:
        raise PeftkitError(f"the {split_name} split has no column '{column}' (its columns: "
                           f"{', '.join(split.column_names)}); give every split the same columns")
    values = _values(split, column)
    bad = sum(not isinstance(v, str) or not v.strip() for v in values)
    if bad:
        raise PeftkitError(f"{bad} of {len(values)} rows of the {split_name} split have an empty or non-text "
                           f"'{column}'; fill them in (or pass --drop-invalid-rows to drop the empty ones), "
                           f"or pass the right {option}")
    return values


def _build(split_name: str, split: datasets.Dataset, text: str, pair: str | None, label: str,
           encode: LabelEncoder, known: set[int] | None = None) -> datasets.Dataset:
    """An in-memory dataset with only ``text``, [``text_pair``], ``label`` (an id)."""
    if len(split) == 0:
        raise PeftkitError(f"the {split_name} split is empty; give it rows")
    columns = {"text": _texts(split_name, split, text, "--text-column")}
    features = {"text": datasets.Value("string")}
    if pair:
        columns["text_pair"] = _texts(split_name, split, pair, "--text-pair-column")
        features["text_pair"] = datasets.Value("string")
    columns["label"] = _encode_labels(split_name, split, label, encode, known)
    features["label"] = datasets.Value("int64")
    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))


# -- choosing and cutting splits ------------------------------------------------------------------

def _choose_eval_split(splits: dict[str, datasets.Dataset], eval_split: str | None,
                       label: str) -> tuple[str | None, str]:
    """(the split to evaluate on, or None to hold out part of train; why nothing was usable)."""
    if eval_split:
        name = SPLIT_ALIASES.get(eval_split.lower(), eval_split)
        if name not in splits:
            raise PeftkitError(f"split '{eval_split}' not found; the splits are: {', '.join(splits)}; fix --eval-split")
        if len(splits[name]) and not _has_labels(splits[name], label):
            raise PeftkitError(f"the {name} split has no labels ('{label}' missing or all -1); "
                               "pass another --eval-split or leave it out to hold out part of train")
        return name, ""
    unusable = []
    for name in ("validation", "test"):
        if name in splits:
            if len(splits[name]) and _has_labels(splits[name], label):
                return name, ""
            unusable.append(f"the {name} split has no labels")
    return None, "; ".join(unusable) or "no validation split"


def _hold_out(labels: np.ndarray, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train rows, held-out rows): a stratified share of train (sklearn's ``train_test_split`` with the
    seed); rows of a class with a single example stay in train."""
    from sklearn.model_selection import train_test_split

    pool = np.flatnonzero(np.bincount(labels)[labels] >= 2)
    classes = len(np.unique(labels[pool]))
    n_held = max(math.ceil(len(labels) * fraction), classes)
    if classes == 0 or n_held > len(pool) - classes:  # sklearn needs every class on both sides
        raise PeftkitError(f"the train split has too few rows ({len(labels)}) to hold out an eval split; "
                           "add a validation file or pass --eval-split")
    _, held = train_test_split(pool, test_size=n_held, random_state=seed, stratify=labels[pool])
    held = sorted(held.tolist())
    return sorted(set(range(len(labels))) - set(held)), held


def _sample_sizes(counts: np.ndarray, n: int) -> np.ndarray:
    """Rows to take from each class: in proportion, at least one of each while ``n`` allows."""
    share = counts * n / counts.sum()
    take = np.floor(share).astype(int)
    if n >= len(counts):
        take = np.maximum(take, 1)
    while take.sum() > n:  # the minimum of one overshot: take from the class most above its share
        take[np.argmax(np.where(take > 1, take - share, -np.inf))] -= 1
    while take.sum() < n:  # hand out the rest to the classes most below their share
        take[np.argmax(np.where(take < counts, share - take, -np.inf))] += 1
    return take


def _subsample(split: datasets.Dataset, n: int | None, seed: int, what: str, notes: list[str]) -> datasets.Dataset:
    """At most ``n`` rows, chosen with the seed and stratified by label (small subsets keep every class)."""
    if n is None or n >= len(split):
        return split
    labels = np.asarray(_values(split, "label"))
    classes, counts = np.unique(labels, return_counts=True)
    rng = np.random.default_rng(seed)
    chosen = [i for c, k in zip(classes, _sample_sizes(counts, n))
              for i in rng.permutation(np.flatnonzero(labels == c))[:k]]
    notes.append(f"{what}: {n} of {len(labels)} rows, stratified, seed {seed}")
    return split.select(sorted(int(i) for i in chosen))


def _check_options(validation_fraction: float, max_train_samples: int | None, max_eval_samples: int | None) -> None:
    if not 0 < validation_fraction < 1:
        raise PeftkitError(f"validation_fraction must be between 0 and 1, got {validation_fraction}")
    for name, value in (("max-train-samples", max_train_samples), ("max-eval-samples", max_eval_samples)):
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise PeftkitError(f"{name} must be a positive number, got {value}")


# -- the public entry points --------------------------------------------------------------------

def load_text_classification(dataset: str, *, text_column: str | None = None, text_pair_column: str | None = None,
                             label_column: str | None = None, eval_split: str | None = None, seed: int = 0,
                             max_train_samples: int | None = None, max_eval_samples: int | None = None,
                             validation_fraction: float = 0.1, drop_invalid_rows: bool = False,
                             holdout: bool = False) -> TextClassificationData:
    """Train and eval splits of ``dataset`` with columns text, [text_pair], label (ids 0..K-1).
    ``drop_invalid_rows``: drop the rows of train and eval with an empty text or a missing label (a note
    counts them) instead of refusing the data. ``holdout`` (RunConfig.holdout, what `--search lr` scores
    on): evaluate on a stratified share of train held out, never on the evaluation split; ``eval_split``
    "train-holdout" says the same (the command line's spelling, which `evaluate --eval-split` passes)."""
    _check_options(validation_fraction, max_train_samples, max_eval_samples)
    refuse_token_data(str(dataset))  # CoNLL: the readers below would call it an unknown file type
    splits = read_splits(str(dataset))
    train_raw = splits["train"]
    if len(train_raw) == 0:
        raise PeftkitError(f"the train split of {dataset} is empty; give it rows")
    refuse_token_data(str(dataset), train_raw, text_column, TEXT_COLUMNS)  # a text column of token lists
    text, pair, label = _choose_columns(train_raw.column_names, text_column, text_pair_column, label_column)
    notes: list[str] = []
    if drop_invalid_rows:
        train_raw = _drop_invalid("train", train_raw, (text, pair), label, notes)

    _check_labels_present("train", train_raw, label)  # the encoder needs clean values
    encode, names, label_notes = _label_encoder(_label_values(train_raw, label), train_raw.features.get(label), label)
    notes += label_notes
    train = _build("train", train_raw, text, pair, label, encode)
    present = set(_values(train, "label"))
    if len(present) < 2:
        raise PeftkitError(f"the train split has a single class ({names[min(present)]}) in '{label}'; "
                           "classification needs at least two: check the data or --label-column")

    holdout = holdout or eval_split == HOLDOUT_SPLIT
    chosen, why = _choose_eval_split(splits, None if holdout else eval_split, label)
    if chosen == "train":
        evaluation = train
        notes.append("evaluating on the train split itself (--eval-split train): scores will be optimistic")
    elif chosen:
        source = _drop_invalid(chosen, splits[chosen], (text, pair), label, notes) if drop_invalid_rows else splits[chosen]
        evaluation = _build(chosen, source, text, pair, label, encode, known=present)
    else:
        kept, held = _hold_out(np.asarray(_values(train, "label")), validation_fraction, seed)
        train, evaluation = train.select(kept), train.select(held)
        share = f"{validation_fraction * 100:g}%"
        chosen = f"train (stratified {share} held out, seed {seed})"
        notes.append(f"{why}: held out {share} of train ({len(held)} rows), stratified, seed {seed}")

    if holdout:  # hyperparameter search: score on the training data's own held-out share, never on `chosen`
        kept, held = _hold_out(np.asarray(_values(train, "label")), validation_fraction, seed)
        train, evaluation = train.select(kept), train.select(held)
        chosen = (f"held out from the training data (stratified {validation_fraction * 100:g}%, seed {seed}); "
                  f"the evaluation split ({chosen or 'held out'}) is not used")
    train = _subsample(train, max_train_samples, seed, "max_train_samples", notes)
    evaluation = _subsample(evaluation, max_eval_samples, seed, "max_eval_samples", notes)
    return TextClassificationData(train=train, eval=evaluation, label_names=names, text_column=text,
                                  text_pair_column=pair, label_column=label, eval_split=chosen,
                                  notes=notes, source=str(dataset))


_TRUNCATED = "peftkit_truncated"  # a column of tokenize's, counted and removed


def tokenize(data: TextClassificationData, tokenizer, max_length: int) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Tokenized (train, eval): input_ids, attention_mask, [token_type_ids], labels. Truncated to
    ``max_length``, not padded (``DataCollatorWithPadding`` pads each batch); how many examples the limit
    cut goes to ``data.notes``."""
    if not max_length > 0:
        raise PeftkitError(f"max-length must be positive, got {max_length}")

    def encode(batch):
        texts, pairs = batch["text"], batch.get("text_pair")
        # one token over the limit shows which examples the limit cuts; only those are encoded again, at the
        # limit, so that the tokenizer truncates them (and pairs) its own way
        encoded = tokenizer(texts, pairs, truncation=True, max_length=max_length + 1)
        cut = [i for i, ids in enumerate(encoded["input_ids"]) if len(ids) > max_length]
        if cut:
            again = tokenizer([texts[i] for i in cut], [pairs[i] for i in cut] if pairs else None,
                              truncation=True, max_length=max_length)
            for key, values in again.items():
                for j, i in enumerate(cut):
                    encoded[key][i] = values[j]
        encoded["labels"] = batch["label"]
        encoded[_TRUNCATED] = [False] * len(texts)
        for i in cut:
            encoded[_TRUNCATED][i] = True
        return encoded

    def run(split: datasets.Dataset) -> tuple[datasets.Dataset, int]:
        done = split.map(encode, batched=True, remove_columns=split.column_names, keep_in_memory=True,
                         load_from_cache_file=False)
        return done.remove_columns(_TRUNCATED), sum(done[_TRUNCATED][:])

    (train, cut_train), (evaluation, cut_eval) = run(data.train), run(data.eval)
    note = (f"max_length {max_length}: {cut_train:,} of {len(train):,} training and {cut_eval:,} of {len(evaluation):,} "
            "evaluation examples were truncated (the model never sees their ends); raise --max-length to keep more")
    if (cut_train or cut_eval) and note not in data.notes:
        data.notes.append(note)
    return train, evaluation
