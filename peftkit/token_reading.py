"""Reading token-classification data (sentences of words, an entity tag per word) in any form peftkit takes.

``dataset`` is a CoNLL column file or directory (``conll.py``; ``label_column`` is then a column number), or,
read by ``reading.read_splits``, a JSON, JSONL or parquet file (used as train), a directory of
train/validation/test such files, or a hub name (``conll2003``, ``wnut_17``, ``name:config``) with list
columns as Hugging Face datasets keep them: a tokens column (``tokens``, ``words``, or ``text_column``) of
lists of strings, and a tags column (``ner_tags``, ``tags``, ``labels``, ``label``, ``ner``, or
``label_column``) of lists of string tags (``B-PER``) or of integer ids that the column's ``ClassLabel``
feature names (parquet files written by ``datasets`` keep it). A split without tags (an unlabeled test split,
all -1) is left out. Every sentence needs a tag per token; the splits are checked together as CoNLL's are
(``conll.check_splits``). Each problem is one line naming the split, the row and the fix.

``is_token_dataset`` tells token data from sentence-classification data (to infer the task);
``refuse_token_data`` is sequence classification's one line for token data.
"""

from __future__ import annotations

from pathlib import Path

import datasets

from . import conll
from .conll import Sentences, describe, looks_like_conll
from .errors import PeftkitError
from .reading import FILE_TYPES, SPLIT_ALIASES, read_splits
from .tagging import split_tag

TOKEN_COLUMNS = ("tokens", "words")
TAG_COLUMNS = ("ner_tags", "tags", "labels", "label", "ner")
LIST_FILE_TYPES = (".json", ".jsonl", ".parquet")  # the table formats that hold list columns
NO_TAG = -1  # datasets' "no label" id (unlabeled test splits)
# a list column's feature: Sequence (datasets < 4; List subclasses it in 4.x and 5.x), List, LargeList
_LIST_FEATURES = tuple(t for t in (getattr(datasets, n, None) for n in ("Sequence", "List", "LargeList"))
                       if isinstance(t, type))


# -- features -----------------------------------------------------------------------------------

def _inner(feature):
    """The feature of a list column's items (``Sequence(f)``, ``List(f)``, ``LargeList(f)``, ``[f]``), else None."""
    if isinstance(feature, list):
        return feature[0] if len(feature) == 1 else None
    return feature.feature if isinstance(feature, _LIST_FEATURES) else None


def _is_string(feature) -> bool:
    return isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string")


def _null(feature) -> bool:
    return isinstance(feature, datasets.Value) and feature.dtype == "null"


def _kind(feature) -> str:
    return feature.dtype if isinstance(feature, datasets.Value) else type(feature).__name__


def _token_column(table: datasets.Dataset, given: str | None, candidates: tuple[str, ...]) -> str | None:
    """The column (``given``, else the first of ``candidates`` there) that holds lists of strings, if any."""
    for column in (given,) if given else candidates:
        if column in table.column_names and _is_string(_inner(table.features[column])):
            return column
    return None


def _tag_names(feature, column: str, source: str) -> list[str] | None:
    """The names of a tags column's integer ids (its ClassLabel), None for string tags; ids without names
    or items of another type are refused."""
    inner = _inner(feature)
    if isinstance(inner, datasets.ClassLabel):
        return list(inner.names)
    if _is_string(inner):
        return None
    if isinstance(inner, datasets.Value) and inner.dtype.startswith(("int", "uint")):
        raise PeftkitError(f"column '{column}' of {source} holds integer tag ids without their names; write the "
                           "tags as strings (B-PER), or keep the ClassLabel feature (e.g. save with datasets' "
                           "to_parquet)")
    raise PeftkitError(f"column '{column}' of {source} holds lists of {_kind(inner)}, not tags; tags are strings "
                       "(B-PER) or ClassLabel ids: fix the column or pass the right --label-column")


# -- columns ------------------------------------------------------------------------------------

def _pick(columns: list[str], given: str | None, candidates: tuple[str, ...], option: str, source: str) -> str | None:
    if given:
        if given not in columns:
            raise PeftkitError(f"column '{given}' not found in {source} (its columns: {', '.join(columns)}); "
                               f"fix {option}")
        return given
    return next((c for c in candidates if c in columns), None)


def _sentence_data(dataset: str, columns: list[str]) -> PeftkitError:
    return PeftkitError(f"{dataset} is sentence-classification data (columns {', '.join(columns)}: one label per "
                        "row); token classification needs CoNLL columns or list columns of tokens and tags "
                        "(tokens + ner_tags); drop --task token-classification or pass such data")


def _columns(train: datasets.Dataset, dataset: str, text_column: str | None,
             label_column: str | None) -> tuple[str, str]:
    """(tokens column, tags column) of the train split, each holding lists."""
    columns, source = train.column_names, describe("train", dataset)
    tokens = _pick(columns, text_column, TOKEN_COLUMNS, "--text-column", source)
    tags = _pick(columns, label_column, TAG_COLUMNS, "--label-column", source)
    token_items = _inner(train.features[tokens]) if tokens else None
    tag_items = _inner(train.features[tags]) if tags else None
    if token_items is None and tag_items is None and any(_is_string(f) for f in train.features.values()):
        raise _sentence_data(dataset, columns)
    if tokens is None or tags is None:
        what, looked, option = (("tokens", TOKEN_COLUMNS, "--text-column") if tokens is None
                                else ("tags", TAG_COLUMNS, "--label-column"))
        raise PeftkitError(f"{source} has no {what} column (looked for {', '.join(looked)}; its columns: "
                           f"{', '.join(columns)}); pass {option} with the column of {what} lists")
    if tokens == tags:
        raise PeftkitError(f"column '{tokens}' cannot be both the tokens and the tags; pass distinct "
                           "--text-column and --label-column")
    if token_items is None:
        raise PeftkitError(f"column '{tokens}' of {source} holds one value per row, not a list of tokens; write "
                           "each sentence as a list of words ([\"EU\", \"rejects\"]) or pass the right --text-column")
    if not _is_string(token_items):
        raise PeftkitError(f"column '{tokens}' of {source} holds lists of {_kind(token_items)}: every token must "
                           "be a string (the word); fix the tokens or pass the right --text-column")
    if tag_items is None and not _null(train.features[tags]):  # all null: no tags, said below
        raise PeftkitError(f"column '{tags}' of {source} holds one label per row, not a list of tags (one per "
                           "token); pass --label-column with the column of tag lists")
    return tokens, tags


# -- rows ---------------------------------------------------------------------------------------

def _values(table: datasets.Dataset, column: str) -> list:
    return table[column][:]  # a list (datasets >= 4 gives a lazy Column)


def _unlabeled(tags: list) -> bool:
    """No tag at all: every row None or empty, every tag None or -1."""
    return all(t is None or t == NO_TAG for row in tags if row for t in row)


def _tag(value, names: list[str] | None, where: str, valid: set[str]) -> str:
    """The tag ``value`` is (a string, or an id that ``names`` names), checked; ``valid``: tags checked so far."""
    if value is None or value == NO_TAG:
        raise PeftkitError(f"{where} has a token without a tag ({value!r}) in a tagged split; tag it or remove "
                           "the row")
    if names is not None:
        if not isinstance(value, int) or not 0 <= value < len(names):
            raise PeftkitError(f"{where} has tag id {value!r}, which the ClassLabel names do not cover (ids "
                               f"0..{len(names) - 1}); fix the tag ids")
        value = names[value]
    elif not isinstance(value, str):
        raise PeftkitError(f"{where} has a tag that is not a string ({value!r}); write tags as B-PER, I-PER, O")
    if value not in valid:
        try:
            split_tag(value)
        except PeftkitError as e:
            raise PeftkitError(f"{where}: {e}") from None
        valid.add(value)
    return value


def _sentences(table: datasets.Dataset, tokens: str, tags: str, source: str) -> Sentences | None:
    """The sentences of one split, None for a split without tags."""
    if tokens not in table.column_names:
        raise PeftkitError(f"{source} has no column '{tokens}' (its columns: {', '.join(table.column_names)}); "
                           "give every split the same columns")
    if tags not in table.column_names or _unlabeled(all_tags := _values(table, tags)):
        return None
    names = _tag_names(table.features[tags], tags, source)
    words: list[list[str]] = []
    labels: list[list[str]] = []
    valid: set[str] = set()
    for number, (row_words, row_tags) in enumerate(zip(_values(table, tokens), all_tags), 1):
        where = f"row {number} of {source}"
        if not row_words:
            raise PeftkitError(f"{where} is an empty sentence block (no tokens); remove the row")
        if row_tags is None or len(row_tags) != len(row_words):
            raise PeftkitError(f"{where} has {len(row_words)} tokens but {len(row_tags or [])} tags; give every "
                               "token one tag")
        bad = [w for w in row_words if not isinstance(w, str)]
        if bad:
            raise PeftkitError(f"{where} has a token that is not a string ({bad[0]!r}); every token must be a "
                               "word: fix or remove it")
        words.append(list(row_words))
        labels.append([_tag(t, names, where, valid) for t in row_tags])
    return Sentences(source, words, labels)


def _list_splits(dataset: str, text_column: str | None, label_column: str | None) -> dict[str, Sentences]:
    raw = read_splits(dataset)  # hub split names already mapped through SPLIT_ALIASES
    tokens, tags = _columns(raw["train"], dataset, text_column, label_column)
    splits = {}
    for split, table in raw.items():
        sentences = _sentences(table, tokens, tags, describe(split, dataset))
        if sentences is not None:
            splits[split] = sentences
        elif split == "train":
            raise PeftkitError(f"{describe(split, dataset)} has no tags ('{tags}' empty or all -1); "
                               "token classification trains on tagged sentences: pass a labeled train split")
    return splits


# -- the public entry points --------------------------------------------------------------------

def _conll_path(path: Path) -> bool:
    """A CoNLL file (a suffix the table readers do not take, CoNLL-looking), or a directory with a split file
    that looks like one."""
    if path.is_dir():
        return any(f.is_file() and f.suffix.lower() not in FILE_TYPES and SPLIT_ALIASES.get(f.stem.lower())
                   and looks_like_conll(f) for f in path.iterdir())
    return path.is_file() and path.suffix.lower() not in FILE_TYPES and looks_like_conll(path)


def read_token_splits(dataset: str, *, label_column: str | None = None,
                      text_column: str | None = None) -> tuple[dict[str, Sentences], str]:
    """({split: sentences}, the tag scheme) of any token-classification ``dataset``, checked across splits;
    splits without tags are left out."""
    path = Path(dataset).expanduser()
    if (path.is_file() and path.suffix.lower() not in FILE_TYPES) or (path.is_dir() and _conll_path(path)):
        if text_column:
            raise PeftkitError(f"{dataset} is CoNLL column data, whose words are the first column (the columns "
                               "have no names); leave --text-column out")
        return conll.read_splits(path, label_column)
    splits = _list_splits(str(dataset), text_column, label_column)
    return splits, conll.check_splits(splits, str(dataset))


def is_token_dataset(dataset: str) -> bool:
    """True for token-classification data: a CoNLL file or directory, or (JSON, JSONL, parquet, the hub) a
    train split with a tokens column of lists of strings. Never raises: data that cannot be read is False
    (the loader then says why)."""
    path = Path(dataset).expanduser()
    if _conll_path(path):
        return True
    if path.is_file() and path.suffix.lower() not in LIST_FILE_TYPES:
        return False
    if path.is_dir() and not any(f.suffix.lower() in LIST_FILE_TYPES for f in path.iterdir()):
        return False  # csv/tsv only (or nothing): not read for nothing
    try:
        train = read_splits(str(dataset))["train"]
    except PeftkitError:
        return False
    return _token_column(train, None, TOKEN_COLUMNS) is not None


def refuse_token_data(dataset: str, train: datasets.Dataset | None = None, text_column: str | None = None,
                      text_columns: tuple[str, ...] = ()) -> None:
    """Sequence classification's one line for token data: without ``train``, a CoNLL file or directory (which
    its readers cannot read); with it, a train split whose text column (``text_column``, else the first of
    ``text_columns`` there, else a tokens column) holds lists of tokens."""
    if train is None:
        found = "CoNLL columns: a word and its tag a line" if _conll_path(Path(dataset).expanduser()) else None
    else:
        text = text_column or next((c for c in text_columns if c in train.column_names), None)
        column = _token_column(train, text, TOKEN_COLUMNS)
        found = column and f"column '{column}' holds lists of tokens, not texts"
    if found:
        raise PeftkitError(f"{dataset} is token-classification data ({found}); pass --task token-classification "
                           "(or leave --task out: it is inferred from the data)")
