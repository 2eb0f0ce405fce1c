"""The ``peftkit`` command line. Every command answers bad input with one line and exit status 2."""

from __future__ import annotations

import copy
import errno
import math
import sys
import warnings
from pathlib import Path

import click

from . import __version__
from .errors import PeftkitError, UnsupportedError
from .recipes import PROFILES
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
    """Each strategy with a one-line description, its options and its training defaults."""
    from rich.console import Console
    from rich.table import Table

    from .registry import list_strategies, strategy_class
    from .tables import print_rich

    table = Table(show_lines=True)
    for header in ("strategy", "description", "options (default)", "training (default)"):  # fold, never "…"
        table.add_column(header, style="bold" if header == "strategy" else None, overflow="fold")
    for name in list_strategies():
        cls = strategy_class(name)
        opts = "\n".join(f"{n}={d!r}: {h}" if h else f"{n}={d!r}" for n, _t, d, h in cls.Options.describe())
        d = cls.defaults
        training = f"lr {d.learning_rate:g}\n{d.epochs:g} epochs\nwarm-up {d.warmup:g}\nweight decay {d.weight_decay:g}"
        table.add_row(name + (" *" if cls.core else ""), cls.description, opts or "-", training)
    console = Console()
    print_rich(table, console)
    console.print("* core strategies (what `compare` runs by default). SPEC syntax: name:key=value,key=value. "
                  "Training defaults: `--hp STRATEGY.KEY=VALUE` overrides them; their sources are in "
                  "peftkit/strategies/")


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
        if not math.isfinite(number):
            raise PeftkitError(f"--hp {item}: {value!r} is not a finite number")
        out.setdefault(strategy, {})[key] = number
    return out


def run_options(f):
    """Options shared by `compare` and `train` (the same RunConfig fields)."""
    options = [
        click.option("--epochs", type=float, help="Epochs (default: each strategy's own)."),
        click.option("--learning-rate", type=float, help="Learning rate (default: each strategy's own)."),
        click.option("--warmup", type=float, help="Warm-up as a fraction of training steps."),
        click.option("--weight-decay", type=float),
        click.option("--batch-size", type=int, default=16, show_default=True),
        click.option("--max-length", type=int, default=128, show_default=True),
        click.option("--max-train-samples", type=int),
        click.option("--max-eval-samples", type=int),
        click.option("--text-column"),
        click.option("--text-pair-column"),
        click.option("--label-column"),
        click.option("--eval-split", help="Split to evaluate on (default: validation, else test, else held out)."),
        click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), default="auto", show_default=True),
        click.option("--trust-remote-code", is_flag=True, help="Allow custom model code from the hub (off by default)."),
        click.option("--gradient-checkpointing", is_flag=True, default=None,
                     help="Recompute activations in backward: less memory, ~30% more time; what trains is unchanged."),
        click.option("--gradient-accumulation-steps", type=int, help="Optimizer step every N batches (default 1)."),
        click.option("--drop-invalid-rows", is_flag=True, default=None,
                     help="Drop rows with an empty text or a missing label (a note counts them) instead of refusing the data."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@cli.command("compare")
@click.option("--model", "-m", help="Hub id or local model directory (default: the built-in offline demo).")
@click.option("--dataset", "-d", help="Hub name, local file, or directory of train/validation/test files.")
@click.option("--strategy", "-s", "specs", multiple=True, metavar="SPEC",
              help="Strategy to run (repeatable); default: full, head, gradual, lora, prefix, prompt, adapter.")
@click.option("--recipe", type=click.Path(dir_okay=False), help="A YAML recipe; flags given here override it.")
@click.option("--seeds", default="0", show_default=True, help="Comma-separated seeds, e.g. 0,1,2.")
@click.option("--hp", "hp", multiple=True, metavar="STRATEGY.KEY=VALUE",
              help="Per-strategy hyperparameter, e.g. --hp lora.learning_rate=1e-3 --hp prompt.epochs=10.")
@click.option("--output", "-o", type=click.Path(file_okay=False), help="Results directory (default: peftkit-runs/<model>-<dataset>).")
@click.option("--allow-mixed", is_flag=True, help="Add to an output directory that holds another configuration.")
@click.option("--profile", type=click.Choice(sorted(PROFILES)), help="quick: a usable ranking in minutes (1000 training "
              "and 500 evaluation examples, length 64); full (default): all the data.")
@click.option("--search", type=click.Choice(["lr"]), help="lr: pick each strategy's learning rate from a small grid "
              "around its default, scored on held-out training data (never the evaluation split).")
@click.option("--search-grid", metavar="FACTORS", help="Factors of each default rate to try (default: 0.33,1,3).")
@run_options
@click.pass_context
def compare_command(ctx, model, dataset, specs, recipe, seeds, hp, output, allow_mixed, profile, search, search_grid,
                    trust_remote_code, **flags) -> None:
    """Train strategies side by side on the same data and seeds; print and save the comparison."""
    from click.core import ParameterSource
    from rich.console import Console

    from dataclasses import replace

    from . import demo
    from .compare import Comparison, StrategyRun, default_strategies, distributed_world, run_comparison
    from .recipes import load_recipe
    from .training import RunConfig, preflight

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE

    console = Console()
    recipe_settings: dict = load_recipe(recipe) if recipe else {}
    profile = profile or recipe_settings.pop("profile", None) or "full"
    search = search or recipe_settings.pop("search", None)
    search_grid = search_grid or recipe_settings.pop("search_grid", None)
    settings: dict = {**PROFILES[profile], **recipe_settings}  # flags > recipe > profile > defaults
    for name, value in flags.items():  # run_options: named like the RunConfig fields and recipe keys
        if value is not None and (given(name) or name not in settings):
            settings[name] = value
    model = model or settings.get("model")
    dataset = dataset or settings.get("dataset")
    for key in ("model", "dataset", "description"):
        settings.pop(key, None)
    recipe_output = settings.pop("output", None)
    seed_list = _parse_seeds(seeds) if given("seeds") or "seeds" not in settings else settings["seeds"]
    settings.pop("seeds", None)
    recipe_strategies = settings.pop("strategies", None)
    if (model is None) != (dataset is None):
        raise PeftkitError("give both --model and --dataset, or neither for the built-in demo")
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
    demo_run = model is None
    if demo_run and not given("max_length"):
        settings["max_length"] = demo.MAX_LENGTH
    # validated before anything is written
    base = RunConfig(model=model or "demo", dataset=dataset or "demo", strategy="full",
                     trust_remote_code=trust_remote_code, **settings)
    for run in strategies:
        replace(base, strategy=run.spec, **run.overrides)
    from .search import parse_grid

    grid = parse_grid(search_grid) if search else None  # checked before the demo writes its files
    if search_grid and not search:
        raise PeftkitError("--search-grid needs --search lr")
    notes: list[str] = []
    if demo_run:
        output = output or recipe_output or "peftkit-runs/demo"
        model, dataset, notes = demo.prepare(Path(output))
        base = replace(base, model=model, dataset=dataset)
    output = output or recipe_output or f"peftkit-runs/{_slug(model)}-{_slug(dataset)}"
    if profile != "full":
        notes.append(f"profile {profile}: " + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in PROFILES[profile].items())
                     + " (flags override); use it to rank, not to report final numbers")
    from .launch import launch_notes

    notes += launch_notes()
    # a model or dataset that cannot load, or a length a strategy cannot take, fails here before the store is written
    preflight(base, tuple(run.spec for run in strategies))
    comparison = Comparison(base=base, strategies=strategies, seeds=seed_list, output=Path(output), notes=notes,
                            search_grid=grid)
    rows = run_comparison(comparison, console, allow_mixed=allow_mixed)
    if distributed_world()[1] == 0:
        _print_summary(console, rows, Path(output), notes)
    _fail_if_nothing_finished(rows, Path(output))


def _fail_if_nothing_finished(rows: list[dict], output: Path) -> None:
    """A sweep in which no run finished ok exits non-zero, with why, in one line."""
    if not rows or any(r.get("status") == "ok" for r in rows):
        return
    reasons: dict[str, list[str]] = {}
    for r in rows:
        reasons.setdefault(r.get("status") or "failed", []).append(str(r.get("error") or "no reason recorded"))
    parts = [f"{len(found)} {status} (e.g. {found[0].splitlines()[0][:160]})" for status, found in reasons.items()]
    raise PeftkitError(f"no run finished ok: {'; '.join(parts)}; details in {output / 'report.md'} and "
                       f"{output / 'logs'}")


def _print_notes(console, notes: list[str]) -> None:
    from rich.markup import escape

    for note in notes:
        console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True, highlight=False)


def _print_summary(console, rows: list[dict], output: Path, notes: list[str]) -> None:
    from .compare import data_notes, write_all_reports
    from .report import aggregate, print_summary
    from .store import ResultStore

    store = ResultStore(output)
    _print_notes(console, data_notes(store.records()))  # the data as the runs saw it, once for the comparison
    paths = write_all_reports(store, title=f"peftkit compare: {output}", notes=notes)
    print_summary(aggregate(rows), paths["md"], console)
    console.print("reports: " + ", ".join(str(p) for p in paths.values()), soft_wrap=True, markup=False, highlight=False)


@cli.command("report")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def report_command(directory: str, fmt: str) -> None:
    """Rebuild report.md, results.csv, results.json and plot.png from a results directory."""
    from .compare import rows_from_store, write_all_reports
    from .report import aggregate, print_summary, summary_table
    from .store import ResultStore

    store = ResultStore(directory)
    if not store.runs_dir.is_dir():
        raise PeftkitError(f"{directory} holds no results (no runs/ folder); pass the --output of a compare run")
    summary = aggregate(rows_from_store(store))
    paths = write_all_reports(store, title=f"peftkit compare: {directory}", notes=[])
    if fmt == "table":  # the console's few columns; report.md, csv and json have them all
        print_summary(summary, paths["md"])
    else:
        render(*summary_table(summary), fmt, title="peftkit compare")


@cli.command("train")
@click.option("--strategy", "-s", "spec", required=True, metavar="SPEC", help="The strategy, e.g. lora:r=16.")
@click.option("--model", "-m", required=True, help="Hub id or local model directory.")
@click.option("--dataset", "-d", required=True, help="Hub name, local file, or directory of train/validation/test files.")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="Where the artifact and metrics go (must be new or empty).")
@click.option("--seed", type=int, default=0, show_default=True)
@run_options
def train_command(spec, model, dataset, output, seed, trust_remote_code, **flags) -> None:
    """Train one strategy once, with the same data and measurement code as `compare`; save the artifact."""
    import contextlib
    import json
    import shutil
    import tempfile

    from rich.console import Console

    from .compare import record_for
    from .errors import UnsupportedError
    from .launch import distributed_world, launch_notes
    from .output import check_new_output, check_writable, publish, trainable_bytes
    from .training import RunConfig, train_and_evaluate

    out = Path(output)
    check_new_output(out)
    config = RunConfig(model=model, dataset=dataset, strategy=spec, seed=seed, trust_remote_code=trust_remote_code,
                       **{k: v for k, v in flags.items() if v is not None})
    console = Console()
    main_process = distributed_world()[1] == 0  # the launcher's RANK: known before any process group exists
    if main_process:
        for note in launch_notes():
            console.print(f"[yellow]note:[/] {note}")
    tmp = Path(tempfile.mkdtemp(prefix="peftkit-train-"))
    try:
        info = train_and_evaluate(config, tmp, lambda step, total: None,
                                  lambda m: check_writable(out, trainable_bytes(m)) if main_process else None)
    except UnsupportedError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PeftkitError(str(e)) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not main_process:  # under `accelerate launch`, only the main process writes
        shutil.rmtree(tmp, ignore_errors=True)
        return
    metrics = json.dumps(record_for(config, info, 0), indent=2, default=str) + "\n"
    try:
        publish(tmp / "artifact", out, {"metrics.json": metrics})
    except OSError as e:
        with contextlib.suppress(OSError):
            (tmp / "artifact" / "metrics.json").write_text(metrics)
        raise PeftkitError(f"cannot write {out} ({e.strerror or e}): nothing was left there; the finished "
                           f"training is kept in {tmp / 'artifact'} (move it where you want it)") from None
    shutil.rmtree(tmp, ignore_errors=True)
    _print_notes(console, info.get("data_notes") or [])  # also in metrics.json
    console.print(f"[green]trained[/] {spec}: accuracy {info['eval_accuracy']:.4f}, macro F1 {info['eval_f1_macro']:.4f}, "
                  f"{info['trainable_params']:,} trainable parameters, artifact {_size(info['checkpoint_bytes'])} "
                  f"in {out} (metrics.json beside it)")


def _size(n: int) -> str:
    from .report import human_bytes

    return human_bytes(n)


@cli.command("env")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--no-check", is_flag=True, help="Skip the strategy x family check (versions and lock only).")
def env_command(fmt: str, no_check: bool) -> None:
    """For bug reports: versions, the lock, and every strategy checked on a tiny model of every family."""
    from .env import collect, to_json, to_text

    report = collect(check=not no_check)
    click.echo(to_json(report) if fmt == "json" else to_text(report), nl=False)


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
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), default="auto", show_default=True,
              help="As for `train`: auto is bf16 (or fp16) on a GPU, fp32 on CPU.")
@click.option("--optimizer", type=click.Choice(["adamw", "sgd"]), default="adamw", show_default=True)
@click.option("--gradient-checkpointing", is_flag=True, help="Recompute activations in backward, block by block.")
@click.option("--device", type=click.Choice(["auto", "cuda", "cpu"]), default="auto", show_default=True,
              help="Where training runs (auto: here); CUDA runs fused attention and 1-byte dropout masks.")
@click.option("--num-labels", default=2, show_default=True, type=int, help="Size of the task head.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--trust-remote-code", is_flag=True, help="Allow custom model code from the hub (off by default).")
def estimate_command(model_name, specs, batch_size, seq_len, precision, optimizer, gradient_checkpointing, device,
                     num_labels, fmt, trust_remote_code) -> None:
    """Predict peak training memory per strategy (weights, gradients, optimizer, activations), on the meta device."""
    from .estimate import COMPONENTS, check_length, estimate_memory
    from .modeling import load_config
    from .registry import core_strategies, strategy_from_spec
    from .report import human_bytes

    settings = dict(precision=precision, optimizer=optimizer, gradient_checkpointing=gradient_checkpointing,
                    num_labels=num_labels, device=device)
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
    title = (f"{model_name} ({config.model_type}): batch {batch_size} x {seq_len} tokens, {resolved}, {optimizer}"
             + (", gradient checkpointing" if gradient_checkpointing else ""))
    if fmt in ("table", "md"):
        shown = [{**r, **{k: human_bytes(r[k]) for k in (*COMPONENTS, "total") if k in r}} for r in rows]
        render(shown, columns, fmt, title=title)
        click.echo("\n".join(f"- {n}" for n in dict.fromkeys(notes)))
    else:
        render(rows, columns, fmt, title=title)


from . import cli_artifacts  # noqa: E402,F401  (registers predict, evaluate and merge on `cli`)


def quiet() -> None:
    """No library warnings or loading bars on the console: peftkit reports what matters itself."""
    import os

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    from huggingface_hub.utils import logging as hub_logging

    hub_logging.set_verbosity_error()  # offline, its "Retrying in 8s" lines would come before our one line


_OS_ERROR_FIX = {
    errno.ENOSPC: "free some space and run the same command again (what finished was kept)",
    errno.EDQUOT: "free some space and run the same command again (what finished was kept)",
    errno.EACCES: "pass a location you can write",
    errno.EPERM: "pass a location you can write",
    errno.EROFS: "pass a location on a writable filesystem",
}


def os_error_line(e: OSError) -> str:
    where = f" ({e.filename})" if e.filename else ""
    fix = _OS_ERROR_FIX.get(e.errno, "check the path and the disk, then run the same command again")
    return f"{e.strerror or e}{where}: {fix}"


def main(argv: list[str] | None = None) -> None:
    """Entry point: PeftkitError becomes one line on stderr and exit status 2."""
    if "--debug" not in (argv if argv is not None else sys.argv):
        quiet()
    try:
        cli.main(args=argv, prog_name="peftkit", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("peftkit: interrupted", err=True)
        sys.exit(130)
    except click.UsageError as e:  # click's own three-line usage message, as one line like ours
        command = e.ctx.command_path if e.ctx else "peftkit"
        click.echo(f"peftkit: error: {e.format_message()} (see '{command} --help')", err=True)
        sys.exit(2)
    except click.ClickException as e:
        click.echo(f"peftkit: error: {e.format_message()}", err=True)
        sys.exit(2)
    except PeftkitError as e:
        if _DEBUG:
            raise
        click.echo(f"peftkit: error: {e}", err=True)
        sys.exit(2)
    except OSError as e:  # the machine refused a read or write (full disk, permissions): one line, not a traceback
        if _DEBUG:
            raise
        click.echo(f"peftkit: error: {os_error_line(e)}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
