"""``peftkit compare``: the command line of compare.py (plan, prepare, run), and what it prints."""

from __future__ import annotations

from typing import Any

import click
from click.core import ParameterSource

from .cli import _print_notes, cli, run_options
from .compare import Comparison
from .recipes import PROFILES


@cli.command("compare")
@click.option("--model", "-m", help="Hub id or local model directory (default: the built-in offline demo).")
@click.option("--dataset", "-d", help="Hub name, local file, or directory of train/validation/test files.")
@click.option("--strategy", "-s", "specs", multiple=True, metavar="SPEC",
              help="Strategy to run (repeatable); `all`: every registered one, `family:NAME`: one group of `peftkit "
              "list`; default: full, head, gradual, lora, prefix, prompt, adapter.")
@click.option("--recipe", type=click.Path(dir_okay=False), help="A YAML recipe; flags given here override it.")
@click.option("--seeds", default="0", show_default=True, help="Comma-separated seeds, e.g. 0,1,2.")
@click.option("--hp", "hp", multiple=True, metavar="STRATEGY.KEY=VALUE",
              help="Per-strategy hyperparameter, e.g. --hp lora.learning_rate=1e-3 --hp prompt.epochs=10; "
              "for one SPEC of a strategy: --hp lora:r=4.epochs=5.")
@click.option("--output", "-o", type=click.Path(file_okay=False), help="Results directory (default: peftkit-runs/<model>-<dataset>).")
@click.option("--allow-mixed", is_flag=True, help="Add to an output directory that holds another configuration.")
@click.option("--jobs", "-j", default="1", show_default=True, metavar="N|auto",
              help="Runs that train at once, each in its own process: a GPU each (more share a GPU only as far as "
              "peftkit estimate says they fit), or a share of the CPU cores; auto: one per GPU, 1 on a CPU.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: this machine; ray: each run a Ray task on a cluster (pip install -e \".[ray]\").")
@click.option("--ray-address", default="auto", show_default=True, help="The Ray cluster to join (--executor ray).")
@click.option("--profile", type=click.Choice(sorted(PROFILES)), help="quick: a usable ranking in minutes (1000 training "
              "and 500 evaluation examples, length 64); full (default): all the data.")
@click.option("--search", metavar="lr|epochs|lr,epochs", help="Pick each strategy's learning rate, epochs or both from a "
              "small grid around its defaults, scored on held-out training data (never the evaluation split).")
@click.option("--search-grid", metavar="FACTORS", help="Factors of each default rate to try (default: 0.33,1,3).")
@click.option("--epochs-grid", metavar="FACTORS", help="Factors of each strategy's default epochs to try "
              "(default: 0.5,1,2).")
@run_options
@click.pass_context
def compare_command(ctx, allow_mixed: bool, jobs: str, executor: str, ray_address: str, **_options) -> None:
    """Train strategies side by side on the same data and seeds; print and save the comparison."""
    from rich.console import Console

    from .compare import check_finished, prepare, run_comparison
    from .parallel import Execution, parse_jobs
    from .ray_executor import connect
    from .report import aggregate, print_summary

    console = Console()
    execution = Execution(parse_jobs(jobs), executor, ray_address)
    if executor == "ray":
        connect(ray_address)  # Ray installed and its cluster reached, before anything is written
    comparison = prepare(plan_from_context(ctx))
    result = run_comparison(comparison, console, allow_mixed=allow_mixed, execution=execution)
    if result.reports is not None:  # the process that writes (the first one under a launcher)
        _print_notes(console, result.data_notes)
        print_summary(aggregate(result.rows, result.metric), result.reports["md"], console, metric=result.metric)
        console.print("reports: " + ", ".join(str(p) for p in result.reports.values()), soft_wrap=True,
                      markup=False, highlight=False)
    check_finished(result.rows, comparison.output)


def given(ctx: click.Context) -> dict[str, Any]:
    """The options given on the command line, by parameter name; an option left at its default is absent."""
    return {name: value for name, value in ctx.params.items()
            if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE}


def plan_from_context(ctx: click.Context) -> Comparison:
    """The comparison the parsed command asks for (compare.plan_comparison), nothing loaded or written."""
    from .compare import plan_comparison
    from .recipes import load_recipe

    flags = given(ctx)
    for how in ("allow_mixed", "jobs", "executor", "ray_address"):  # how to store and spread, not what to run
        flags.pop(how, None)
    recipe = load_recipe(flags.pop("recipe")) if "recipe" in flags else {}
    return plan_comparison(flags, recipe)


def plan_command_line(args: list[str]) -> Comparison:
    """The comparison ``peftkit compare ARGS`` plans, the same way the command does, without running it."""
    with compare_command.make_context("compare", list(args)) as ctx:
        return plan_from_context(ctx)
