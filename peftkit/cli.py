"""The ``peftkit`` command line. Every command answers bad input with one line and exit status 2."""

from __future__ import annotations

import copy
import sys
import warnings

import click

from . import __version__
from .errors import PeftkitError, UnsupportedError
from .tables import FORMATS, render

_DEBUG = False


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="peftkit")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
def cli(debug: bool) -> None:
    """peftkit: pick, apply and compare fine-tuning strategies for Hugging Face transformers."""
    global _DEBUG
    _DEBUG = debug


@cli.command("list")
def list_command() -> None:
    """Each strategy with a one-line description and its options (with defaults)."""
    from rich.console import Console
    from rich.table import Table

    from .registry import list_strategies, strategy_class

    table = Table(show_lines=True)
    table.add_column("strategy", style="bold")
    table.add_column("description")
    table.add_column("options (default)")
    for name in list_strategies():
        cls = strategy_class(name)
        opts = "\n".join(f"{n}={d!r}: {h}" if h else f"{n}={d!r}" for n, _t, d, h in cls.Options.describe())
        table.add_row(name + (" *" if cls.core else ""), cls.description, opts or "-")
    console = Console()
    console.print(table)
    console.print("* core strategies (what `compare` runs by default). SPEC syntax: name:key=value,key=value")


PARAMS_COLUMNS = [
    ("strategy", "strategy"), ("status", "status"), ("trainable_params", "trainable"),
    ("total_params", "total"), ("trainable_percent", "% trainable"), ("head_params", "head params"),
    ("reason", "reason"),
]


@cli.command("params")
@click.option("--model", "-m", "model_name", default="builtin:bert-base", show_default=True,
              help="Hub id, local model directory, config.json file, or builtin:bert-base / builtin:tiny-bert.")
@click.option("--num-labels", default=2, show_default=True, type=click.IntRange(min=1), help="Size of the task head.")
@click.option("--strategy", "-s", "specs", multiple=True, metavar="SPEC",
              help="name or name:key=value,... (repeatable); default: every registered strategy.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--trust-remote-code", is_flag=True, help="Allow custom model code from the hub (off by default).")
def params_command(model_name: str, num_labels: int, specs: tuple[str, ...], fmt: str, trust_remote_code: bool) -> None:
    """Parameter-efficiency table without training: the model is built on the meta device."""
    from .modeling import build_on_meta, load_config
    from .params import count_parameters
    from .registry import list_strategies, strategy_from_spec

    config = load_config(model_name, trust_remote_code=trust_remote_code)
    strategies = [strategy_from_spec(s) for s in (specs or list_strategies())]  # validate all first
    rows = []
    for strategy in strategies:
        model = build_on_meta(copy.deepcopy(config), num_labels)
        row = {"strategy": strategy.spec(), "model": model_name}
        try:
            counts = count_parameters(strategy.apply(model))
        except UnsupportedError as e:
            rows.append({**row, "status": "unsupported", "reason": e.reason})
            continue
        rows.append({**row, "status": "ok", "trainable_params": counts.trainable, "total_params": counts.total,
                     "trainable_percent": counts.percent, "head_params": counts.head_trainable,
                     "breakdown": counts.breakdown})
    columns = PARAMS_COLUMNS if any(r.get("reason") for r in rows) else PARAMS_COLUMNS[:-1]
    render(rows, columns, fmt, title=f"{model_name} ({config.model_type}, {num_labels} labels)")


def main(argv: list[str] | None = None) -> None:
    """Entry point: PeftkitError becomes one line on stderr and exit status 2."""
    if "--debug" not in (argv if argv is not None else sys.argv):
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=UserWarning)
    try:
        cli.main(args=argv, prog_name="peftkit", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("peftkit: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except PeftkitError as e:
        if _DEBUG:
            raise
        click.echo(f"peftkit: error: {e}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
