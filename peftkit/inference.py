"""Using a trained artifact: load it with its tokenizer, predict like a text-classification pipeline,
and evaluate on a dataset (metrics, per-class report, confusion matrix)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .artifacts import MODEL_FIX, REMAKE, load, read_metadata
from .errors import PeftkitError, first_line
from .modeling import prepare_tokenizer, resolve_model
from .output import atomic_path


def load_for_inference(directory: str | Path):
    """(model, tokenizer) of a directory written by ``peftkit.save`` / ``peftkit train``."""
    from transformers import AutoTokenizer

    directory = Path(directory)
    model = load(directory)
    has_tokenizer = (directory / "tokenizer_config.json").exists()
    source = directory if has_tokenizer else resolve_model(read_metadata(directory)["base_model"])
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except Exception as e:  # noqa: BLE001 - the tokenizers library raises a bare Exception on a corrupt tokenizer.json
        raise PeftkitError(f"cannot load the tokenizer of {source}: {first_line(e)}; "
                           f"{REMAKE if has_tokenizer else MODEL_FIX}") from e
    return model, prepare_tokenizer(tokenizer, model)


def usable_length(model, max_length: int) -> int:
    """``max_length``, or less where the model has fewer learned positions (prompt tokens take some)."""
    from . import architectures as arch

    limit = arch.position_limit(arch.unwrap(model).config)
    made_by = getattr(model, "peftkit_strategy", None)  # None: a plain transformers model (a merged one)
    prompt = made_by.virtual_tokens().prompt if made_by is not None else 0
    return max_length if limit is None else max(1, min(max_length, limit - prompt))


def predict_logits(model, tokenizer, texts: list[str], pairs: list[str] | None = None, batch_size: int = 32,
                   max_length: int = 512) -> np.ndarray:
    chunks = []
    max_length = usable_length(model, max_length)
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            end = start + batch_size
            batch = tokenizer(texts[start:end], pairs[start:end] if pairs else None, padding=True, truncation=True,
                              max_length=max_length, return_tensors="pt")
            chunks.append(model(**batch).logits.float().numpy())
    return np.concatenate(chunks) if chunks else np.zeros((0, model.config.num_labels))


def predict(model, tokenizer, texts: list[str], batch_size: int = 32, max_length: int = 512) -> list[dict]:
    """Like a text-classification pipeline: [{'label': name, 'score': p}] for each text."""
    logits = torch.from_numpy(predict_logits(model, tokenizer, texts, batch_size=batch_size, max_length=max_length))
    probs = logits.softmax(-1)
    labels = model.config.id2label
    return [{"label": labels.get(int(row.argmax()), str(int(row.argmax()))), "score": float(row.max())} for row in probs]


def evaluate(model, tokenizer, data) -> dict[str, Any]:
    """Metrics, sklearn's per-class report and the confusion matrix on ``data.eval``."""
    from sklearn.metrics import classification_report, confusion_matrix

    from .tasks.sequence_classification import classification_metrics

    split = data.eval
    pairs = split["text_pair"] if "text_pair" in split.column_names else None
    logits = predict_logits(model, tokenizer, list(split["text"]), list(pairs) if pairs else None)
    truth, predicted = np.array(split["label"]), logits.argmax(-1)
    ids = list(range(len(data.label_names)))
    return {
        **classification_metrics(logits, truth),
        "report": classification_report(truth, predicted, labels=ids, target_names=data.label_names, zero_division=0),
        "confusion_matrix": confusion_matrix(truth, predicted, labels=ids),
    }


def plot_confusion(matrix: np.ndarray, names: list[str], path: str | Path, title: str = "confusion matrix") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 3, 1.2 * len(names) + 2.5), constrained_layout=True)
    ax.imshow(matrix, cmap="Blues")
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                    color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    try:
        with atomic_path(Path(path)) as tmp:
            fig.savefig(tmp, dpi=110, format=Path(path).suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)
    return Path(path)
