"""Turning a dataset argument into train/eval splits for sequence classification.

``dataset`` is a local file (csv, tsv, json, jsonl, parquet: used as train), a directory of
train/validation/test files, or a hub name (``imdb``, ``glue/sst2``) loaded with ``datasets``.
Columns are detected (``text``/``sentence``..., ``label``...) unless named; string labels become ids
(names kept for reports); without a usable validation split, a stratified share of train is held out
with the seed, and the notes say so. Every problem is a one-line PeftkitError naming the fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np

from .errors import PeftkitError

TEXT_COLUMNS = ("text", "sentence", "sentence1", "question1", "premise", "review", "content", "document", "question")
PAIR_COLUMNS = ("text_pair", "sentence2", "question2", "hypothesis")
PAIRED_FIRST = ("sentence1", "question1", "premise")
LABEL_COLUMNS = ("label", "labels", "class", "target", "sentiment")
EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
SPLIT_NAMES = {"train": "train", "validation": "validation", "valid": "validation", "dev": "validation",
               "val": "validation", "test": "test"}


@dataclass
class TextClassificationData:
    train: datasets.Dataset  # columns: text, [text_pair], label (int)
    eval: datasets.Dataset
    label_names: list[str]
    text_column: str
    text_pair_column: str | None
    label_column: str
    eval_split: str
    notes: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


# -- reading -------------------------------------------------------------------------------------

def _read_file(path: Path) -> datasets.Dataset:
    kind = EXTENSIONS.get(path.suffix.lower())
    if kind is None:
        raise PeftkitError(f"cannot read {path}: unknown file type '{path.suffix}'; use csv, tsv, json, jsonl or parquet")
    if path.stat().st_size == 0:
        raise PeftkitError(f"dataset file {path} is empty; give it a header and rows")
    datasets.disable_progress_bars()
    kwargs = {"delimiter": "\t"} if path.suffix.lower() == ".tsv" else {}
    try:
        loaded = datasets.load_dataset(kind, data_files={"data": str(path)}, split="data", **kwargs)
    except Exception as e:  # pyarrow/pandas parse errors come in many types
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PeftkitError(f"cannot read {path} as {kind}: {first[:200]}; check the file's format") from None
    if len(loaded) == 0:
        raise PeftkitError(f"dataset file {path} has no rows")
    return loaded


def _read_local(path: Path) -> tuple[dict[str, datasets.Dataset], list[str]]:
    if path.is_file():
        return {"train": _read_file(path)}, []
    splits: dict[str, datasets.Dataset] = {}
    for file in sorted(path.iterdir()):
        split = SPLIT_NAMES.get(file.stem.lower())
        if split and file.suffix.lower() in EXTENSIONS and split not in splits:
            splits[split] = _read_file(file)
    if "train" not in splits:
        raise PeftkitError(f"dataset directory {path} has no train file (train.csv, train.jsonl, ...); "
                           "add one or pass a single file")
    return splits, []


def _read_hub(name: str) -> tuple[dict[str, datasets.Dataset], list[str]]:
    """``imdb``, ``user/dataset``, ``name:config``; ``glue/sst2`` means the glue dataset, config sst2."""
    repo, config = name, None
    if ":" in name:
        repo, config = name.split(":", 1)
    elif name.split("/")[0] in ("glue", "super_glue") and name.count("/") == 1:
        repo, config = name.split("/")
    try:
        loaded = datasets.load_dataset(repo, config)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PeftkitError(f"cannot load dataset '{name}' from the hub: {first[:200]}; "
                           "pass a local file or directory instead") from None
    splits = {SPLIT_NAMES.get(k, k): v for k, v in loaded.items()}
    if "train" not in splits:
        raise PeftkitError(f"dataset '{name}' has no train split (splits: {', '.join(loaded)})")
    return splits, []


def _read(dataset: str) -> dict[str, datasets.Dataset]:
    path = Path(dataset).expanduser()
    if path.exists():
        return _read_local(path)[0]
    if dataset.startswith((".", "/", "~")) or Path(dataset).suffix.lower() in EXTENSIONS or \
            (Path(dataset).parent != Path(".") and Path(dataset).parent.exists()):
        raise PeftkitError(f"dataset path {dataset} does not exist; pass a file or a directory with "
                           "train/validation files, or a hub name")
    return _read_hub(dataset)[0]


# -- columns and labels -------------------------------------------------------------------------

def _pick(columns: list[str], given: str | None, candidates: tuple[str, ...], what: str, option: str) -> str:
    if given:
        if given not in columns:
            raise PeftkitError(f"{what} column '{given}' not found; columns are: {', '.join(columns)}; "
                               f"fix {option}")
        return given
    for name in candidates:
        if name in columns:
            return name
    raise PeftkitError(f"no {what} column found (looked for {', '.join(candidates)}); columns are: "
                       f"{', '.join(columns)}; pass {option}")


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value.strip())


def _check_labels(split: str, values: list) -> None:
    missing = sum(_is_missing(v) for v in values)
    if missing:
        raise PeftkitError(f"{missing} row(s) of the {split} split have an empty or NaN label; "
                           "remove them or fill them in")


def _label_mapping(train_labels: list, feature) -> tuple[dict, list[str], list[str]]:
    """(value -> id, names, notes)."""
    distinct = sorted(set(train_labels), key=lambda v: (str(type(v)), v))
    if isinstance(feature, datasets.ClassLabel):
        return {i: i for i in range(feature.num_classes)}, list(feature.names), []
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in distinct):
        ints = [int(v) for v in distinct]
        if ints == list(range(len(ints))):
            return {i: i for i in ints}, [str(i) for i in ints], []
        mapping = {v: i for i, v in enumerate(ints)}
        return mapping, [str(v) for v in ints], [f"labels {ints} were not 0..{len(ints) - 1}: mapped in sorted order"]
    if all(isinstance(v, float) and float(v).is_integer() for v in distinct):
        ints = [int(v) for v in distinct]
        mapping = {float(v): i for i, v in enumerate(ints)}
        return mapping, [str(v) for v in ints], []
    names = [str(v) for v in distinct]
    return {v: i for i, v in enumerate(distinct)}, names, [f"string labels mapped to ids in sorted order: {names}"]


def _prepare(split_name: str, ds: datasets.Dataset, text: str, pair: str | None, label: str, mapping: dict,
             names: list[str]) -> datasets.Dataset:
    labels = ds[label]
    _check_labels(split_name, labels)
    unseen = sorted({str(v) for v in labels if v not in mapping})
    if unseen:
        raise PeftkitError(f"the {split_name} split has label(s) {', '.join(unseen[:5])} that training never saw "
                           f"(training labels: {', '.join(names)}); fix the data or the split")
    columns = {"text": ds[text]}
    if pair:
        columns["text_pair"] = ds[pair]
    for column, values in list(columns.items()):
        bad = sum(not isinstance(v, str) or not v.strip() for v in values)
        if bad:
            source = text if column == "text" else pair
            raise PeftkitError(f"{bad} row(s) of the {split_name} split have an empty or non-text '{source}'; "
                               "remove them or pass the right --text-column")
    columns["label"] = [mapping[v] for v in labels]
    return datasets.Dataset.from_dict(columns)


def _stratified_indices(labels: list[int], n: int, seed: int) -> list[int]:
    from sklearn.model_selection import train_test_split

    if n >= len(labels):
        return list(range(len(labels)))
    counts = np.bincount(labels)
    stratify = labels if (counts[counts > 0] >= 2).all() and n >= len(counts[counts > 0]) else None
    chosen, _ = train_test_split(np.arange(len(labels)), train_size=n, random_state=seed, stratify=stratify)
    return sorted(int(i) for i in chosen)


def _usable_eval(ds: datasets.Dataset | None, label: str) -> bool:
    if ds is None or len(ds) == 0 or label not in ds.column_names:
        return False
    return not all(_is_missing(v) or v == -1 for v in ds[label])  # GLUE test splits carry -1


# -- the public entry points --------------------------------------------------------------------

def load_text_classification(dataset: str, *, text_column: str | None = None, text_pair_column: str | None = None,
                             label_column: str | None = None, eval_split: str | None = None, seed: int = 0,
                             max_train_samples: int | None = None, max_eval_samples: int | None = None,
                             validation_fraction: float = 0.1) -> TextClassificationData:
    splits = _read(dataset)
    train_raw = splits["train"]
    if len(train_raw) == 0:
        raise PeftkitError(f"the train split of {dataset} is empty")
    columns = train_raw.column_names
    text = _pick(columns, text_column, TEXT_COLUMNS, "text", "--text-column")
    pair = text_pair_column
    if pair:
        _pick(columns, pair, PAIR_COLUMNS, "text pair", "--text-pair-column")
    elif text in PAIRED_FIRST:
        pair = next((c for c in PAIR_COLUMNS if c in columns), None)
    label = _pick(columns, label_column, LABEL_COLUMNS, "label", "--label-column")
    notes: list[str] = []

    _check_labels("train", train_raw[label])
    mapping, names, label_notes = _label_mapping(train_raw[label], train_raw.features.get(label))
    notes += label_notes
    if len(names) < 2:
        raise PeftkitError(f"the train split has a single class ({names[0]}); classification needs at least two")
    train = _prepare("train", train_raw, text, pair, label, mapping, names)

    if eval_split:
        wanted = SPLIT_NAMES.get(eval_split, eval_split)
        if wanted not in splits:
            raise PeftkitError(f"split '{eval_split}' not found; splits are: {', '.join(splits)}; fix --eval-split")
        candidates = [wanted]
    else:
        candidates = [s for s in ("validation", "test") if s in splits]
    chosen = next((s for s in candidates if _usable_eval(splits[s], label)), None)
    if chosen:
        eval_set = _prepare(chosen, splits[chosen], text, pair, label, mapping, names)
        eval_name = chosen
    else:
        held = _stratified_indices(train["label"], max(len(names), round(len(train) * validation_fraction)), seed)
        keep = sorted(set(range(len(train))) - set(held))
        eval_set, train = train.select(held), train.select(keep)
        eval_name = f"train (stratified {validation_fraction:.0%} held out, seed {seed})"
        notes.append(f"no usable validation split: held out {len(held)} of the train rows, stratified, seed {seed}")
    if len(eval_set) == 0:
        raise PeftkitError(f"the {eval_name} split of {dataset} is empty")
    if max_train_samples:
        train = train.select(_stratified_indices(train["label"], max_train_samples, seed))
    if max_eval_samples:
        eval_set = eval_set.select(_stratified_indices(eval_set["label"], max_eval_samples, seed))
    return TextClassificationData(train=train, eval=eval_set, label_names=names, text_column=text,
                                  text_pair_column=pair, label_column=label, eval_split=eval_name,
                                  notes=notes, source=dataset)


def tokenize(data: TextClassificationData, tokenizer, max_length: int) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Tokenized (train, eval) with ``labels``; no padding here (the collator pads each batch)."""

    def encode(batch):
        pair = batch.get("text_pair")
        out = tokenizer(batch["text"], pair, truncation=True, max_length=max_length)
        out["labels"] = batch["label"]
        return out

    def run(ds: datasets.Dataset) -> datasets.Dataset:
        return ds.map(encode, batched=True, remove_columns=ds.column_names, load_from_cache_file=False,
                      desc=None, keep_in_memory=True)

    return run(data.train), run(data.eval)
