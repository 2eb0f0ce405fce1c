"""The ``peftkit`` command line. Every command answers bad input with one line and exit status 2."""

from __future__ import annotations

import copy
import sys
import warnings
from pathlib import Path

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


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9]+", "-", Path(text.rstrip("/")).name or text).strip("-") or "run"


def _parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.replace(" ", "").split(",") if s != ""]
    except ValueError:
        raise PeftkitError(f"--seeds must be comma-separated integers like 0,1,2, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise PeftkitError(f"--seeds must list distinct integers like 0,1,2, got {text!r}")
    return seeds


def _parse_overrides(items: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """--hp lora.learning_rate=1e-3 -> {"lora": {"learning_rate": 0.001}}"""
    from .compare import HYPERPARAMETERS

    out: dict[str, dict[str, float]] = {}
    for item in items:
        target, eq, value = item.partition("=")
        strategy, dot, key = target.rpartition(".")
        if not eq or not dot or key not in HYPERPARAMETERS:
            raise PeftkitError(f"--hp expects STRATEGY.KEY=VALUE with KEY one of {', '.join(HYPERPARAMETERS)}, "
                               f"got {item!r}")
        try:
            number = int(value) if key == "batch_size" else float(value)
        except ValueError:
            raise PeftkitError(f"--hp {item}: {value!r} is not a number") from None
        out.setdefault(strategy, {})[key] = number
    return out


COMPARE_FLAGS = {  # CLI option -> RunConfig field (recipe keys use the same names)
    "epochs": "epochs", "learning_rate": "learning_rate", "warmup": "warmup", "weight_decay": "weight_decay",
    "batch_size": "batch_size", "max_length": "max_length", "max_train_samples": "max_train_samples",
    "max_eval_samples": "max_eval_samples", "text_column": "text_column", "text_pair_column": "text_pair_column",
    "label_column": "label_column", "eval_split": "eval_split", "precision": "precision",
}


@cli.command("compare")
@click.option("--model", "-m", help="Hub id or local model directory (default: the built-in offline demo).")
@click.option("--dataset", "-d", help="Hub name, local file, or directory of train/validation/test files.")
@click.option("--strategy", "-s", "specs", multiple=True, metavar="SPEC",
              help="Strategy to run (repeatable); default: full, head, gradual, lora, prefix, prompt, adapter.")
@click.option("--recipe", type=click.Path(dir_okay=False), help="A YAML recipe; flags given here override it.")
@click.option("--seeds", default="0", show_default=True, help="Comma-separated seeds, e.g. 0,1,2.")
@click.option("--epochs", type=float, help="Epochs for every strategy (default: each strategy's own).")
@click.option("--learning-rate", type=float, help="One rate for every strategy (unfair; prefer --hp).")
@click.option("--warmup", type=float, help="Warm-up as a fraction of training steps.")
@click.option("--weight-decay", type=float)
@click.option("--hp", "hp", multiple=True, metavar="STRATEGY.KEY=VALUE",
              help="Per-strategy hyperparameter, e.g. --hp lora.learning_rate=1e-3 --hp prompt.epochs=10.")
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--max-length", type=int, default=128, show_default=True)
@click.option("--max-train-samples", type=int)
@click.option("--max-eval-samples", type=int)
@click.option("--text-column")
@click.option("--text-pair-column")
@click.option("--label-column")
@click.option("--eval-split", help="Split to evaluate on (default: validation, else test, else held out).")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), default="auto", show_default=True)
@click.option("--output", "-o", type=click.Path(file_okay=False), help="Results directory (default: peftkit-runs/<model>-<dataset>).")
@click.option("--allow-mixed", is_flag=True, help="Add to an output directory that holds another configuration.")
@click.option("--trust-remote-code", is_flag=True, help="Allow custom model code from the hub (off by default).")
@click.pass_context
def compare_command(ctx, model, dataset, specs, recipe, seeds, hp, output, allow_mixed, trust_remote_code, **flags) -> None:
    """Train strategies side by side on the same data and seeds; print and save the comparison."""
    from click.core import ParameterSource
    from rich.console import Console

    from . import demo
    from .compare import Comparison, StrategyRun, default_strategies, run_comparison
    from .recipes import load_recipe
    from .training import RunConfig

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE

    console = Console()
    settings: dict = load_recipe(recipe) if recipe else {}
    for option_name, field in COMPARE_FLAGS.items():
        if given(option_name) or field not in settings:
            if flags[option_name] is not None:
                settings[field] = flags[option_name]
    model = model or settings.pop("model", None)
    dataset = dataset or settings.pop("dataset", None)
    settings.pop("model", None), settings.pop("dataset", None), settings.pop("description", None)
    recipe_output = settings.pop("output", None)
    seed_list = _parse_seeds(seeds) if given("seeds") or "seeds" not in settings else settings["seeds"]
    settings.pop("seeds", None)
    recipe_strategies = settings.pop("strategies", None)
    notes: list[str] = []
    if (model is None) != (dataset is None):
        raise PeftkitError("give both --model and --dataset, or neither for the built-in demo")
    if model is None:
        output = output or recipe_output or "peftkit-runs/demo"
        model, dataset, notes = demo.prepare(Path(output))
        if not given("max_length"):
            settings["max_length"] = 32
    output = output or recipe_output or f"peftkit-runs/{_slug(model)}-{_slug(dataset)}"

    overrides = _parse_overrides(hp)
    if specs:
        strategies = [StrategyRun(s) for s in specs]
    elif recipe_strategies:
        strategies = [StrategyRun(s, o) for s, o in recipe_strategies]
    else:
        strategies = default_strategies()
    for run in strategies:
        run.overrides.update(overrides.pop(run.spec, {}) or overrides.pop(run.spec.split(":")[0], {}))
    if overrides:
        raise PeftkitError(f"--hp names strategy '{next(iter(overrides))}', which is not in this comparison")

    base = RunConfig(model=model, dataset=dataset, strategy="full", trust_remote_code=trust_remote_code, **settings)
    comparison = Comparison(base=base, strategies=strategies, seeds=seed_list, output=Path(output), notes=notes)
    rows = run_comparison(comparison, console, allow_mixed=allow_mixed)
    _print_summary(console, rows, Path(output), notes)


def _print_summary(console, rows: list[dict], output: Path, notes: list[str]) -> None:
    from .compare import write_all_reports
    from .report import aggregate, summary_table
    from .store import ResultStore
    from .tables import to_rich

    paths = write_all_reports(ResultStore(output), title=f"peftkit compare: {output}", notes=notes)
    display_rows, columns = summary_table(aggregate(rows))
    console.print(to_rich(display_rows, columns, title="peftkit compare"))
    console.print("reports: " + ", ".join(str(p) for p in paths.values()))


@cli.command("report")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def report_command(directory: str, fmt: str) -> None:
    """Rebuild report.md, results.csv, results.json and plot.png from a results directory."""
    from .compare import rows_from_store, write_all_reports
    from .report import aggregate, summary_table
    from .store import ResultStore

    store = ResultStore(directory)
    if not store.runs_dir.is_dir():
        raise PeftkitError(f"{directory} holds no results (no runs/ folder); pass the --output of a compare run")
    rows = rows_from_store(store)
    write_all_reports(store, title=f"peftkit compare: {directory}", notes=[])
    display_rows, columns = summary_table(aggregate(rows))
    render(display_rows, columns, fmt, title="peftkit compare")


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
