"""Reading a dataset argument into a dict of raw splits (``datasets.Dataset`` each, columns as stored).

``dataset`` is a local file (csv, tsv, json, jsonl, parquet: used as train), a directory of
train/validation/test files, or a hub name (``imdb``, ``glue/sst2``, ``name:config``) loaded with
``datasets``. A column name used twice is refused (which one would be the labels?), in every form.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import datasets

from .errors import PeftkitError, not_utf8_file

FILE_TYPES = (".csv", ".tsv", ".json", ".jsonl", ".parquet")
SPLIT_ALIASES = {"train": "train", "training": "train", "validation": "validation", "valid": "validation",
                 "val": "validation", "dev": "validation", "eval": "validation", "test": "test"}
# Hub datasets whose configs are written as a path: "glue/sst2" = load_dataset("glue", "sst2").
CONFIG_STYLE = ("glue", "super_glue", "tweet_eval")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0][:200] if text else type(error).__name__)


class _DuplicateColumns(Exception):
    """A reader found column names used more than once (``names``)."""

    def __init__(self, names: list[str]):
        super().__init__(", ".join(names))
        self.names = names


def _check_unique(names) -> None:
    """Refuse names used twice: pandas would read them as ``label`` and ``label.1``, JSON keep the last."""
    duplicated = [n for n, k in Counter(str(n) for n in names).items() if k > 1 and n.strip()]
    if duplicated:
        raise _DuplicateColumns(duplicated)


def _duplicates_message(where: str, names: list[str]) -> str:
    return (f"{where} has more than one column named {', '.join(repr(n) for n in names)}, so which one is meant "
            "is ambiguous; rename or remove the copies")


def _unique_object(pairs: list[tuple[str, object]]) -> dict:
    _check_unique([key for key, _ in pairs])
    return dict(pairs)


def _read_csv(path: Path) -> datasets.Dataset:
    import pandas as pd

    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    _check_unique(pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str, keep_default_na=False).iloc[0])
    # only empty cells are missing: a review that says "NA" or "null" stays text
    frame = pd.read_csv(path, sep=sep, keep_default_na=False, na_values=[""])
    return datasets.Dataset.from_pandas(frame, preserve_index=False)


def _json_rows(path: Path, lines: bool) -> list:
    text = path.read_text(encoding="utf-8")
    if not lines:
        try:
            return [json.loads(text, object_pairs_hook=_unique_object)]
        except json.JSONDecodeError as e:
            if not e.msg.startswith("Extra data"):  # else: JSON lines in a .json file
                raise
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line, object_pairs_hook=_unique_object))
            except json.JSONDecodeError as e:
                raise ValueError(f"line {number} is not JSON ({e.msg})") from None
    return rows


def _read_json(path: Path) -> datasets.Dataset:
    """JSON lines, a JSON list of records, ``{"column": [values]}`` or ``{"data": [records]}``. In a .jsonl file
    every line is one row, also when there is one line of lists (one tagged sentence)."""
    lines = path.suffix.lower() == ".jsonl"
    rows = _json_rows(path, lines=lines)
    if len(rows) == 1 and isinstance(rows[0], list):
        rows = rows[0]
    elif len(rows) == 1 and not lines and isinstance(rows[0], dict) and rows[0] and \
            all(isinstance(v, list) for v in rows[0].values()):
        lists = list(rows[0].values())
        if len(lists) == 1 and all(isinstance(r, dict) for r in lists[0]):
            rows = lists[0]  # {"data": [records]}
        else:
            return datasets.Dataset.from_dict(rows[0])
    if not all(isinstance(r, dict) for r in rows):
        raise ValueError("expected one JSON object per row (JSON lines or a list of objects)")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    return datasets.Dataset.from_dict({c: [row.get(c) for row in rows] for c in columns})


def _read_parquet(path: Path) -> datasets.Dataset:
    import pyarrow.parquet as pq
    from datasets.table import InMemoryTable

    _check_unique(pq.read_schema(path).names)  # arrow itself cannot read a parquet file with duplicates
    return datasets.Dataset(InMemoryTable(pq.read_table(path)))  # keeps ClassLabel names saved by datasets


def _read_file(path: Path) -> datasets.Dataset:
    suffix = path.suffix.lower()
    if suffix not in FILE_TYPES:
        raise PeftkitError(f"cannot read {path}: unknown file type '{suffix}'; use {', '.join(FILE_TYPES)}")
    if path.stat().st_size == 0:
        raise PeftkitError(f"dataset file {path} is empty; give it a header and rows")
    reader = {".csv": _read_csv, ".tsv": _read_csv, ".parquet": _read_parquet}.get(suffix, _read_json)
    try:
        loaded = reader(path)
    except _DuplicateColumns as e:
        raise PeftkitError(_duplicates_message(f"dataset file {path}", e.names)) from None
    except UnicodeDecodeError:
        raise not_utf8_file(path) from None
    except Exception as e:  # pandas, arrow and json errors come in many types
        raise PeftkitError(f"cannot read {path} as {suffix[1:]}: {_first_line(e)}; check the file's format") from None
    if len(loaded) == 0:
        raise PeftkitError(f"dataset file {path} has no rows; give it a header and rows")
    return loaded


def _split_of(file: Path) -> str | None:
    """``train.csv`` -> train, ``dev.jsonl`` -> validation, ``test-00000-of-00002.parquet`` -> test."""
    match = re.fullmatch(r"([a-z]+)(-\d+-of-\d+)?", file.stem.lower())
    return SPLIT_ALIASES.get(match.group(1)) if match and file.suffix.lower() in FILE_TYPES else None


def _read_directory(path: Path) -> dict[str, datasets.Dataset]:
    files: dict[str, list[Path]] = {}
    for file in sorted(path.iterdir()):
        if file.is_file() and _split_of(file):
            files.setdefault(_split_of(file), []).append(file)
    if "train" not in files:
        raise PeftkitError(f"dataset directory {path} has no train file (train.csv, train.jsonl, ...); "
                           "add one or pass a single file")
    splits = {}
    for split, group in files.items():
        if len(group) > 1 and not all("-of-" in f.stem and f.suffix == group[0].suffix for f in group):
            raise PeftkitError(f"dataset directory {path} has several {split} files "
                               f"({', '.join(f.name for f in group)}); keep one")
        parts = [_read_file(f) for f in group]
        try:
            splits[split] = parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
        except ValueError as e:
            raise PeftkitError(f"the {split} files in {path} do not share columns: {_first_line(e)}") from None
    return splits


def _hub_arguments(name: str) -> tuple[str, str | None]:
    """``glue/sst2`` and ``glue:sst2`` -> ("glue", "sst2"); ``org/name/config`` -> ("org/name", "config")."""
    if ":" in name:
        repo, config = name.split(":", 1)
        return repo, config or None
    parts = name.split("/")
    if len(parts) == 2 and parts[0] in CONFIG_STYLE:
        return parts[0], parts[1]
    if len(parts) == 3:
        return "/".join(parts[:2]), parts[2]
    return name, None


def _check_hub_columns(name: str, split: str, names: list[str]) -> None:
    """Duplicates in the arrow table, or as the hub's csv loader (pandas) renames them: ``label``, ``label.1``."""
    renamed = {m.group(1) for c in names if (m := re.fullmatch(r"(.+)\.\d+", c)) and m.group(1) in names}
    try:
        _check_unique(names)
    except _DuplicateColumns as e:
        renamed |= set(e.names)
    if renamed:
        raise PeftkitError(_duplicates_message(f"dataset '{name}' ({split} split)", sorted(renamed)))


def _read_hub(name: str) -> dict[str, datasets.Dataset]:
    repo, config = _hub_arguments(name)
    try:
        loaded = datasets.load_dataset(repo, config)
    except Exception as e:  # offline, unknown name, missing config, ...
        raise PeftkitError(f"cannot load dataset '{name}' from the hub: {_first_line(e)}; "
                           "pass a local file or directory") from None
    splits: dict[str, datasets.Dataset] = {}
    for split, part in loaded.items():
        _check_hub_columns(name, split, part.data.column_names)
        splits.setdefault(SPLIT_ALIASES.get(split.lower(), split), part)
    if "train" not in splits:
        raise PeftkitError(f"dataset '{name}' has no train split (its splits: {', '.join(loaded)}); "
                           "pass a dataset with one")
    return splits


def _looks_like_path(dataset: str) -> bool:
    first = re.split(r"[\\/]", dataset)[0]
    return (dataset.startswith((".", "/", "~", "\\")) or dataset.endswith(("/", "\\"))
            or Path(dataset).suffix.lower() in FILE_TYPES or (first != dataset and Path(first).exists())
            or (os.sep != "/" and os.sep in dataset))


def read_splits(dataset: str) -> dict[str, datasets.Dataset]:
    """The raw splits of ``dataset`` by name (train, validation, test, or the hub's own names)."""
    path = Path(dataset).expanduser()
    if path.is_file():
        return {"train": _read_file(path)}
    if path.is_dir():
        return _read_directory(path)
    if _looks_like_path(dataset):
        raise PeftkitError(f"dataset path {dataset} does not exist; pass a file or a directory with "
                           "train/validation files, or a hub name")
    return _read_hub(dataset)
