"""The ``peftkit`` command line. Every command answers bad input with one line and exit status 2."""

from __future__ import annotations

import copy
import errno
import sys
import warnings
from pathlib import Path

import click

from . import __version__
from .errors import PeftkitError, UnsupportedError
from .settings import COMMAND_LINE
from .tasks import DEFAULT_TASK, TASKS
from .tables import FORMATS, render

_DEBUG = False


def task_option(f):
    """--task of the commands that build a model without data (params, estimate)."""
    return click.option("--task", type=click.Choice(list(TASKS)), default=DEFAULT_TASK, show_default=True,
                        help="The task whose model to build (its head).")(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="peftkit")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
def cli(debug: bool) -> None:
    """peftkit: pick, apply and compare fine-tuning strategies for Hugging Face transformers."""
    global _DEBUG
    _DEBUG = debug


@cli.command("list")
def list_command() -> None:
    """Each strategy, grouped by family, with a one-line description, its options and its training defaults."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from .registry import list_strategies, strategy_class
    from .strategies.base import FAMILIES
    from .tables import print_rich

    table = Table(show_lines=True)
    for header in ("strategy", "description", "options (default)", "training (default)"):  # fold, never "…"
        table.add_column(header, style="bold" if header == "strategy" else None, overflow="fold")
    classes = [strategy_class(name) for name in list_strategies()]
    for family, what in FAMILIES.items():
        members = [cls for cls in classes if cls.family == family]
        if members:
            table.add_row(Text(f"family: {family}"), what, "", "", style="italic")
        for cls in members:
            opts = "\n".join(f"{n}={d!r}: {h}" if h else f"{n}={d!r}" for n, _t, d, h in cls.Options.describe())
            training = "\n".join([_training_defaults(cls.defaults), *(
                f"{task}: {_training_defaults(own, cls.defaults)}" for task, own in cls.task_defaults.items())])
            marks = (" *" if cls.core else "") + (" m" if cls().cannot_merge() is None else "")
            table.add_row(cls.name + marks, cls.description, opts or "-", training)
    console = Console()
    print_rich(table, console)
    console.print("* core strategies (what `compare` runs by default); m: merges into the base model with its default "
                  "options (`peftkit merge`). `compare -s all` runs every strategy, `-s family:NAME` one group. SPEC syntax: "
                  "name:key=value,key=value. Training defaults: sequence classification's, then what another task "
                  "changes; `--hp STRATEGY.KEY=VALUE` overrides them; their sources are in peftkit/strategies/. On "
                  "data too small for a strategy's epochs to give it its steps, a run takes more epochs (whole "
                  "ones, up to the most shown); an epochs value given by hand is kept.")


def _training_defaults(d, base=None) -> str:
    """A strategy's training defaults, one per line; with ``base``, only those that differ from it."""
    rule = (f"small data: {d.min_steps}+ steps, up to {d.max_epochs:g} epochs" if d.min_steps
            else "same epochs at every data size")
    shown = {"learning_rate": f"lr {d.learning_rate:g}", "epochs": f"{d.epochs:g} epochs",
             "min_steps": rule, "max_epochs": rule,
             "warmup": f"warm-up {d.warmup:g}", "weight_decay": f"weight decay {d.weight_decay:g}"}
    return ("\n" if base is None else ", ").join(dict.fromkeys(
        text for key, text in shown.items() if base is None or getattr(d, key) != getattr(base, key)))


PARAMS_COLUMNS = [
    ("strategy", "strategy"), ("status", "status"), ("trainable_params", "trainable"),
    ("total_params", "total"), ("trainable_percent", "% trainable"), ("head_params", "head params"),
    ("reason", "reason"),
]


@cli.command("params")
@click.option("--model", "-m", "model_name", default="builtin:bert-base", show_default=True,
              help="Hub id, local model directory, config.json file, or builtin:bert-base / builtin:tiny-bert.")
@click.option("--num-labels", default=2, show_default=True, type=click.IntRange(min=1), help="Size of the task head.")
@task_option
@click.option("--strategy", "-s", "specs", multiple=True, metavar="SPEC",
              help="name or name:key=value,... (repeatable); default: every registered strategy.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--trust-remote-code", is_flag=True, help="Allow custom model code from the hub (off by default).")
def params_command(model_name: str, num_labels: int, task: str, specs: tuple[str, ...], fmt: str,
                   trust_remote_code: bool) -> None:
    """Parameter-efficiency table without training: the model is built on the meta device."""
    from .modeling import build_on_meta, load_config
    from .params import count_parameters
    from .registry import expand_groups, list_strategies, strategy_from_spec

    config = load_config(model_name, trust_remote_code=trust_remote_code)
    strategies = [strategy_from_spec(s) for s in (expand_groups(specs) or list_strategies())]  # validate all first
    rows = []
    for strategy in strategies:
        model = build_on_meta(copy.deepcopy(config), num_labels, task)
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
    render(rows, columns, fmt, title=f"{model_name} ({config.model_type}, {task}, {num_labels} labels)")


def run_options(f):
    """The options of `compare` and `train` that set a run setting: one per setting declared for the
    command line in settings.py, named like it (--learning-rate: learning_rate)."""
    for setting in reversed(COMMAND_LINE):
        f = _option(setting)(f)
    return f


def _option(setting):
    kwargs: dict = {"help": setting.help} if setting.help else {}
    if setting.choices:
        kwargs["type"] = click.Choice(setting.choices)
    elif setting.type is bool:
        kwargs["is_flag"] = True
    elif setting.type in (int, float):
        kwargs["type"] = setting.type
    if setting.show_default:
        kwargs.update(default=setting.default, show_default=True)
    elif setting.type is bool and setting.recipe:  # not given: None, so that a recipe can say true
        kwargs["default"] = None
    return click.option(setting.option, **kwargs)


def _print_notes(console, notes: list[str]) -> None:
    from rich.markup import escape

    for note in notes:
        console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True, highlight=False)


@cli.command("report")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def report_command(directory: str, fmt: str) -> None:
    """Rebuild report.md, results.csv, results.json and plot.png from a results directory."""
    from .compare_records import rows_from_store, write_all_reports
    from .report import aggregate, print_summary, summary_table
    from .store import ResultStore

    store = ResultStore(directory)
    if not store.runs_dir.is_dir():
        raise PeftkitError(f"{directory} holds no results (no runs/ folder); pass the --output of a compare run")
    from .tasks import task_of_records

    metric = task_of_records(store.records()).primary
    summary = aggregate(rows_from_store(store), metric)
    paths = write_all_reports(store, title=f"peftkit compare: {directory}", notes=[])
    if fmt == "table":  # the console's few columns; report.md, csv and json have them all
        print_summary(summary, paths["md"], metric=metric)
    else:
        render(*summary_table(summary, metric), fmt, title="peftkit compare")


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
    from dataclasses import replace

    from rich.console import Console

    from .compare_records import record_for
    from .errors import UnsupportedError
    from .launch import distributed_world, launch_notes
    from .output import atomic_write_text, check_new_output, check_writable, publish, trainable_bytes
    from .report import human_bytes
    from .tasks import get_task
    from .training import RunConfig, train_and_evaluate

    out = Path(output)
    check_new_output(out)
    config = RunConfig(model=model, dataset=dataset, strategy=spec, seed=seed, trust_remote_code=trust_remote_code,
                       **{k: v for k, v in flags.items() if v is not None}).with_task()
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
            atomic_write_text(tmp / "artifact" / "metrics.json", metrics)
        raise PeftkitError(f"cannot write {out} ({e.strerror or e}): nothing was left there; the finished "
                           f"training is kept in {tmp / 'artifact'} (move it where you want it)") from None
    shutil.rmtree(tmp, ignore_errors=True)
    trained = replace(config, train_examples=info["num_train_samples"])
    _print_notes(console, [*(info.get("data_notes") or []), *filter(None, [trained.too_few_steps()])])
    cache = info.get("feature_cache")
    if cache:
        _print_notes(console, [f"the head trained on cached body features: {cache['examples']:,} examples, "
                               f"{human_bytes(cache['bytes'])} in memory, built in {cache['seconds']:.1f} s"])
    metric = get_task(config.task).primary
    scores = ", ".join(f"{label} {info[key]:.4f}" for key, label in
                       [(metric.key, metric.label), *((s.key, s.runs) for s in metric.secondary)])
    console.print(f"[green]trained[/] {spec}: {scores}, "
                  f"{info['trainable_params']:,} trainable parameters, artifact {human_bytes(info['checkpoint_bytes'])} "
                  f"in {out} (metrics.json beside it)")


@cli.command("env")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--no-check", is_flag=True, help="Skip the strategy x family check (versions and lock only).")
def env_command(fmt: str, no_check: bool) -> None:
    """For bug reports: versions, the lock, and every strategy checked on a tiny model of every family."""
    from .env import collect, to_json, to_text

    report = collect(check=not no_check)
    click.echo(to_json(report) if fmt == "json" else to_text(report), nl=False)


from . import cli_artifacts, cli_compare, cli_estimate  # noqa: E402,F401  (register their commands on `cli`)


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
