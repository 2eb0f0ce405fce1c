"""``peftkit predict``, ``evaluate`` and ``merge``: the commands that use a trained artifact."""

from __future__ import annotations

from pathlib import Path

import click

from .cli import cli
from .report import human_bytes
from .errors import PeftkitError, read_user_text
from .tables import FORMATS, render


@cli.command("predict")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.argument("texts", nargs=-1)
@click.option("--file", "text_file", type=click.Path(exists=True, dir_okay=False), help="One text per line.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def predict_command(directory, texts, text_file, batch_size, fmt) -> None:
    """Label names and scores for texts (entities with their types, scores and character offsets for a
    token-classification model), with a model trained by peftkit."""
    items = list(texts)
    if text_file:
        items += [line.rstrip("\n") for line in read_user_text(text_file).splitlines() if line.strip()]
    if not items:
        raise PeftkitError("nothing to predict: give texts as arguments or --file FILE")
    from .inference import load_for_inference
    from .tasks import task_of

    model, tokenizer = load_for_inference(directory)
    task = task_of(model)
    predictions = list(zip(items, task.predict(model, tokenizer, items, batch_size)))
    if fmt == "json":  # one object per text (a token task's: its entities)
        rows = [task.prediction_record(t, p) for t, p in predictions]
    else:
        rows = [row for t, p in predictions for row in task.prediction_rows(t, p)]
    render(rows, task.prediction_columns, fmt)


@cli.command("evaluate")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--dataset", "-d", required=True, help="Hub name, local file, or directory.")
@click.option("--eval-split", help="Split to evaluate (default: validation, else test, else held out).")
@click.option("--text-column")
@click.option("--text-pair-column")
@click.option("--label-column")
@click.option("--max-eval-samples", type=int)
@click.option("--seed", type=int, help="Seed of a held-out split (default: the training seed from DIRECTORY/metrics.json, "
              "so that a dataset without validation split is scored on the rows training held out).")
@click.option("--output", "-o", type=click.Path(file_okay=False), help="Where to write evaluation.json and confusion_matrix.png (default: DIRECTORY).")
@click.option("--drop-invalid-rows/--keep-invalid-rows", default=None,
              help="Drop rows with an empty text or a missing label (default: as training did, from DIRECTORY/metrics.json).")
def evaluate_command(directory, dataset, eval_split, text_column, text_pair_column, label_column, max_eval_samples, seed,
                     output, drop_invalid_rows) -> None:
    """Accuracy, macro precision/recall/F1, per-class report and confusion matrix (printed and PNG); for a
    token-classification model entity precision/recall/F1, token accuracy, the per-type report and the
    confusion of entity types (O: no entity on that exact span)."""
    import json

    from .inference import load_for_inference, plot_confusion
    from .store import atomic_write_text
    from .tasks import task_of

    model, tokenizer = load_for_inference(directory)
    task = task_of(model)
    names = [model.config.id2label[i] for i in range(len(model.config.id2label))]
    trained = _training_config(Path(directory) / "metrics.json")
    seed = trained["seed"] if seed is None else seed
    drop = trained["drop_invalid_rows"] if drop_invalid_rows is None else drop_invalid_rows
    data = task.load_data(dataset, text_column=text_column, text_pair_column=text_pair_column,
                                    label_column=label_column, eval_split=eval_split, max_eval_samples=max_eval_samples,
                                    seed=seed, drop_invalid_rows=drop)
    if data.label_names != names:
        raise PeftkitError(f"the dataset's labels {data.label_names} differ from the model's {names}")
    result = task.evaluate(model, tokenizer, data)
    matrix, report = result.pop("confusion_matrix"), result.pop("report")
    labels = result.pop("confusion_labels", names)
    title = result.pop("confusion_title", "confusion matrix")
    out = Path(output or directory)
    out.mkdir(parents=True, exist_ok=True)
    plot_confusion(matrix, labels, out / "confusion_matrix.png", title)
    atomic_write_text(out / "evaluation.json", json.dumps({"dataset": dataset, "split": data.eval_split, **result,
                                                          "confusion_matrix": matrix.tolist(), "labels": labels}, indent=2) + "\n")
    click.echo(f"{dataset} ({data.eval_split}, {len(data.eval)} examples)")
    click.echo("  ".join(f"{k} {v:.4f}" for k, v in result.items() if isinstance(v, float)))
    click.echo(report)
    click.echo(f"{title} (rows: true, columns: predicted):")
    click.echo("\n".join(" ".join(f"{v:6d}" for v in row) + f"  {labels[i]}" for i, row in enumerate(matrix)))
    click.echo(f"wrote {out / 'evaluation.json'} and {out / 'confusion_matrix.png'}")


def _training_config(metrics_file: Path) -> dict:
    """The seed and drop_invalid_rows that ``train`` recorded in metrics.json (defaults without the file), so that
    a held-out split is the one training held out; a damaged file is one line."""
    import json

    if not metrics_file.exists():
        return {"seed": 0, "drop_invalid_rows": False}
    try:
        config = json.loads(read_user_text(metrics_file))["run_info"]["config"]
        seed, drop = config["seed"], config.get("drop_invalid_rows", False)
    except (ValueError, KeyError, TypeError) as e:
        raise PeftkitError(f"{metrics_file} is not the metrics.json peftkit train writes ({type(e).__name__}: {e}): "
                           "pass --seed, or move the file away") from None
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise PeftkitError(f"{metrics_file} records seed {seed!r}, not an integer: pass --seed, or move the file away")
    if not isinstance(drop, bool):
        raise PeftkitError(f"{metrics_file} records drop_invalid_rows {drop!r}, not true or false: pass "
                           "--drop-invalid-rows or --keep-invalid-rows, or move the file away")
    return {"seed": seed, "drop_invalid_rows": drop}


@cli.command("merge")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.argument("output", type=click.Path(file_okay=False))
def merge_command(directory, output) -> None:
    """Fold a trained LoRA / IA3 / BitFit (or head, gradual, full) into a plain transformers model directory.

    Refused, before anything is written: adapter, prefix and prompt (always), and head, full or gradual
    trained with mean pooling (pooling=mean, or pooling=auto on a sentence-transformers model that pools
    by mean, as head does by default on all-MiniLM-L6-v2). Train the head with head:pooling=head to
    merge it, or load a mean-pooled artifact with peftkit.load.
    """
    from .artifacts import directory_bytes, merge

    out = merge(directory, output)  # refuses a non-empty output, writes nothing half
    from .artifacts import read_metadata
    from .tasks import get_task

    task = get_task(read_metadata(directory).get("task"))
    click.echo(f"merged into {out} ({human_bytes(directory_bytes(out))}); load it with "
               f"AutoModel{task.model_suffix}.from_pretrained or transformers.pipeline(\"{task.pipeline_task}\")")
