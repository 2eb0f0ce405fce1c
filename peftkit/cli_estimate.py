"""``peftkit estimate``: predicted peak training memory per strategy, from the model's config alone."""

from __future__ import annotations

import click

from .cli import cli, task_option
from .errors import PeftkitError, UnsupportedError
from .settings import PRECISIONS
from .tables import FORMATS, render


ESTIMATE_COLUMNS = [
    ("strategy", "strategy"), ("status", "status"), ("weights", "weights"), ("gradients", "gradients"),
    ("optimizer", "optimizer"), ("activations", "activations"), ("total", "total (peak)"), ("reason", "reason"),
]


@cli.command("estimate")
@click.option("--model", "-m", "model_name", default="builtin:bert-base", show_default=True,
              help="Hub id, local model directory, config.json file, or builtin:bert-base / builtin:tiny-bert.")
@click.option("--strategy", "-s", "specs", multiple=True, metavar="SPEC",
              help="name or name:key=value,... (repeatable); default: the core strategies.")
@click.option("--batch-size", type=int, default=16, show_default=True, help="Sequences per training step (per device).")
@click.option("--seq-len", type=int, default=128, show_default=True, help="Tokens per sequence (the padded length).")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="As for `train`: auto is bf16 (or fp16) on a GPU, fp32 on CPU.")
@click.option("--optimizer", type=click.Choice(["adamw", "sgd"]), default="adamw", show_default=True)
@click.option("--gradient-checkpointing", is_flag=True, help="Recompute activations in backward, block by block.")
@click.option("--device", type=click.Choice(["auto", "cuda", "cpu"]), default="auto", show_default=True,
              help="Where training runs (auto: here); CUDA runs fused attention and 1-byte dropout masks.")
@click.option("--num-labels", default=2, show_default=True, type=int, help="Size of the task head.")
@task_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--trust-remote-code", is_flag=True, help="Allow custom model code from the hub (off by default).")
def estimate_command(model_name, specs, batch_size, seq_len, precision, optimizer, gradient_checkpointing, device,
                     num_labels, task, fmt, trust_remote_code) -> None:
    """Predict peak training memory per strategy (weights, gradients, optimizer, activations), on the meta device."""
    from .estimate import COMPONENTS, check_length, estimate_memory
    from .modeling import load_config
    from .registry import core_strategies, strategy_from_spec
    from .report import human_bytes

    settings = dict(precision=precision, optimizer=optimizer, gradient_checkpointing=gradient_checkpointing,
                    num_labels=num_labels, device=device, task=task)
    for name, value in (("--batch-size", batch_size), ("--seq-len", seq_len), ("--num-labels", num_labels)):
        if value < 1:
            raise PeftkitError(f"{name} must be a positive integer, got {value}")
    config = load_config(model_name, trust_remote_code=trust_remote_code)
    strategies = [strategy_from_spec(s) for s in (specs or core_strategies())]  # validate all first
    for strategy in strategies:  # longer than the model's positions: refused, never a meaningless estimate
        check_length(config, seq_len, strategy.virtual_tokens().prompt, "--seq-len")
    rows, notes, resolved = [], [], precision
    for strategy in strategies:
        row = {"strategy": strategy.spec(), "model": model_name}
        try:
            result = estimate_memory(config, strategy, batch_size, seq_len, **settings)
        except UnsupportedError as e:
            rows.append({**row, "status": "unsupported", "reason": e.reason})
            continue
        resolved = f"{result.precision} on {result.device}"
        rows.append({**row, "status": "ok", **result.to_dict()})
        notes += [n if n.startswith(strategy.name) or n == result.notes[0] else f"{strategy.spec()}: {n}"
                  for n in result.notes if n not in notes]
    columns = ESTIMATE_COLUMNS if any(r.get("reason") for r in rows) else [ESTIMATE_COLUMNS[0], *ESTIMATE_COLUMNS[2:-1]]
    title = (f"{model_name} ({config.model_type}, {task}): batch {batch_size} x {seq_len} tokens, {resolved}, {optimizer}"
             + (", gradient checkpointing" if gradient_checkpointing else ""))
    if fmt in ("table", "md"):
        shown = [{**r, **{k: human_bytes(r[k]) for k in (*COMPONENTS, "total") if k in r}} for r in rows]
        render(shown, columns, fmt, title=title)
        click.echo("\n".join(f"- {n}" for n in dict.fromkeys(notes)))
    else:
        render(rows, columns, fmt, title=title)
