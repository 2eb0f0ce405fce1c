"""Reading CoNLL column files: one token a line (``word POS chunk NER``), a blank line between sentences,
``-DOCSTART-`` lines between documents (skipped).

``dataset`` is one such file (used as train) or a directory of them (``train.txt``, ``valid.txt`` /
``dev.txt`` / ``validation.txt``, ``test.txt``; other suffixes as long as the stem names the split). The tags
are the last column unless ``label_column`` names another: its number, counting the word as 1. Every
line of a file has the same number of columns; the tags follow one scheme (``tagging.detect_scheme``); an
evaluation split may not hold entity types the train split never has (``check_splits``, which
``token_reading`` uses for the other forms of token data too). Each problem is one line naming the file, the
line and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from .errors import PeftkitError, read_user_text
from .reading import SPLIT_ALIASES
from .tagging import detect_scheme, entity_types, split_tag

DOCSTART = "-DOCSTART-"


@dataclass
class Sentences:
    """The sentences of one split or file: words and their tags. ``source`` says where they come from, as
    messages name it: ``data/train.txt`` (``read_conll``), ``the validation split (data/valid.txt)``,
    ``the test split (conll2003)`` (``describe``)."""

    source: str
    words: list[list[str]]
    tags: list[list[str]]

    def __len__(self) -> int:
        return len(self.words)


def describe(split: str, where: str) -> str:
    """How messages name a split: ``the validation split (data/valid.txt)``; ``where``: its file, the
    dataset's path or its hub name."""
    return f"the {split} split ({where})"


def looks_like_conll(path: Path) -> bool:
    """True for a file whose first non-blank line is -DOCSTART- or a line of 2 to 10 space- or tab-separated
    columns, without a comma, whose last is a tag (a sentence-classification CSV or TSV starts with a header
    such as ``text,label``; WNUT ships its CoNLL files tab-separated)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.strip():
                    first = line.split()
                    return first[0] == DOCSTART or (2 <= len(first) <= 10 and "," not in line
                                                    and _is_tag(first[-1]))
    except OSError:
        return False
    return False


def _is_tag(text: str) -> bool:
    try:
        split_tag(text)
    except PeftkitError:
        return False
    return True


def _tag_index(label_column: str | None, columns: int, path: Path) -> int:
    if label_column is None:
        return columns - 1
    try:
        number = int(label_column)
    except ValueError:
        raise PeftkitError(f"{path} is a CoNLL column file, whose columns have no names: pass --label-column as a "
                           f"column number (1 is the word, {columns} the last), got {label_column!r}") from None
    if not 2 <= number <= columns:
        raise PeftkitError(f"--label-column {number}: {path} has {columns} columns (1 is the word); pass 2..{columns}")
    return number - 1


def read_conll(path: str | Path, label_column: str | None = None) -> Sentences:
    """The sentences of one CoNLL file; ragged columns, an invalid tag or no sentence at all are refused."""
    path = Path(path)
    words: list[list[str]] = []
    tags: list[list[str]] = []
    current: tuple[list[str], list[str]] = ([], [])
    columns = first_line = None
    index = 0
    for number, line in enumerate(read_user_text(path).splitlines(), 1):
        fields = line.split()
        if not fields or fields[0] == DOCSTART:
            if current[0]:
                words.append(current[0])
                tags.append(current[1])
            current = ([], [])
            continue
        if columns is None:
            columns, first_line = len(fields), number
            index = _tag_index(label_column, columns, path)
        elif len(fields) != columns:
            raise PeftkitError(f"{path}:{number} has {len(fields)} columns where line {first_line} has {columns}: "
                               "every token line needs the same columns (word ... tag); fix that line")
        tag = fields[index]
        try:
            split_tag(tag)
        except PeftkitError as e:
            raise PeftkitError(f"{path}:{number}: {e}") from None
        current[0].append(fields[0])
        current[1].append(tag)
    if current[0]:
        words.append(current[0])
        tags.append(current[1])
    if not words:
        raise PeftkitError(f"{path} holds no sentence (token lines separated by blank lines); pass a CoNLL file")
    return Sentences(str(path), words, tags)


def conll_files(path: Path) -> dict[str, Path]:
    """{split: file} of a CoNLL file (train) or a directory of them."""
    if path.is_file():
        return {"train": path}
    found: dict[str, Path] = {}
    for file in sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")):
        split = SPLIT_ALIASES.get(file.stem.lower())
        if split and looks_like_conll(file):
            if split in found:
                raise PeftkitError(f"{path} has two {split} files ({found[split].name}, {file.name}); keep one")
            found[split] = file
    if "train" not in found:
        raise PeftkitError(f"{path} has no CoNLL train file (train.txt); name the files train, valid and test")
    return found


def check_splits(splits: dict[str, Sentences], dataset: str) -> str:
    """The tag scheme ``splits`` (train and any others) share. Refused: a split that mixes schemes, splits in
    different schemes, an evaluation split with entity types the train split never has."""
    schemes = {split: detect_scheme(s.tags, s.source) for split, s in splits.items()}
    if len(set(schemes.values())) > 1:
        train_first = sorted(schemes.items(), key=lambda item: item[0] != "train")
        shown = ", ".join(f"{split} {scheme}" for split, scheme in train_first)
        raise PeftkitError(f"{dataset}: the splits use different tag schemes ({shown}); convert them to one")
    known = set(entity_types(splits["train"].tags))
    for split, sentences in splits.items():
        unseen = sorted(set(entity_types(sentences.tags)) - known)
        if unseen:
            raise PeftkitError(f"{sentences.source} has entity types the train split never has: "
                               f"{', '.join(unseen)}; fix the data or pass another --eval-split")
    return schemes["train"]


def read_splits(path: str | Path, label_column: str | None = None) -> tuple[dict[str, Sentences], str]:
    """({split: sentences}, the tag scheme) of a CoNLL file or directory, checked across splits."""
    splits = {split: replace(read_conll(file, label_column), source=describe(split, str(file)))
              for split, file in conll_files(Path(path)).items()}
    return splits, check_splits(splits, str(path))
