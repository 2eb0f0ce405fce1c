"""Do the defaults carry over to small data? A learning-rate x epochs grid per strategy, on held-out training data.

    python benchmarks/defaults_grid.py run --dataset sst2 --n 1000 --epochs 3,10,20 --lr-factors 0.33,1,3
    python benchmarks/defaults_grid.py table --dataset sst2 --n 1000

``run`` trains every cell (one ``peftkit compare`` per strategy and cell, strategies outermost so that
a strategy's cells are all there before the next one starts) on ``--n`` training examples, scored on the
stratified 10% of the training data that ``--eval-split train-holdout`` holds out before the subsample
is drawn (692 sentences of SST-2, 854 of SST-5, 1,404 of CoNLL-2003); the validation split is never
read. ``--epochs default`` is the strategy's own epochs for that data size (its steps rule), and a factor
of 1 is its own rate. It writes one results store, ``benchmarks/results/grid-<dataset>-<n>/``
(resumable: a rerun adds the missing cells only). ``table`` prints each strategy's cells, its default
cell, its best cell and the gap, as Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CORE = ("full", "head", "gradual", "lora", "prefix", "prompt", "adapter")


def store_for(dataset: str, n: int | None) -> Path:
    return HERE / "results" / f"grid-{dataset}-{n or 'full'}"


def cell_command(args, strategy: str, epochs: str, factor: float) -> list[str]:
    from peftkit.registry import strategy_from_spec
    from peftkit.search import round_rate

    dataset = os.path.relpath(Path(args.data_root) / args.dataset, REPO)
    output = os.path.relpath(store_for(args.dataset, args.n), REPO)
    command = [sys.executable, "-m", "peftkit", "compare", "--model", args.model, "--dataset", dataset,
               "--eval-split", "train-holdout", "-s", strategy, "--output", output]
    if args.n:
        command += ["--max-train-samples", str(args.n)]
    if epochs != "default":
        command += ["--epochs", epochs]
    if factor != 1:
        task = "token-classification" if args.dataset.startswith("conll") else None
        rate = strategy_from_spec(strategy).defaults_for(task).learning_rate
        command += ["--learning-rate", f"{round_rate(rate * factor):g}"]
    return [*command, *args.extra]


def run(args) -> None:
    for strategy in args.strategies.split(","):
        for epochs in args.epochs.split(","):
            for factor in (float(f) for f in args.lr_factors.split(",")):
                command = cell_command(args, strategy, epochs, factor)
                print("$", shlex.join(command), flush=True)
                rc = subprocess.call(command, cwd=REPO)
                if rc != 0:
                    print(f"cell failed (exit {rc}); going on", flush=True)


def _cells(records: list[dict]) -> dict[str, dict[tuple[float, float], dict]]:
    """{strategy: {(rate, epochs): train_info}} of a grid store's records."""
    cells: dict[str, dict[tuple[float, float], dict]] = {}
    for record in records:
        config = record["run_info"]["config"]
        cells.setdefault(config["strategy"], {})[(config["learning_rate"], config["epochs"])] = record["train_info"]
    return cells


def _default_cell(records: list[dict], strategy: str) -> tuple[float, float]:
    """(rate, epochs) that the strategy's defaults give today on this store's data (its steps rule included)."""
    from peftkit.settings import RunConfig

    record = next(r for r in records if r["run_info"]["config"]["strategy"] == strategy)
    config = RunConfig.from_dict({**record["run_info"]["config"], "learning_rate": None, "epochs": None,
                                  "train_examples": record["train_info"]["num_train_samples"]}).resolved()
    return config.learning_rate, config.epochs


def table(args) -> None:
    from peftkit.tasks import task_of_records

    store = store_for(args.dataset, args.n)  # a cell's shown score: its held-out metric, one seed
    records = [json.loads(p.read_text()) for p in sorted((store / "runs").glob("*.json"))]
    metric = task_of_records(records).primary
    print(f"| strategy | cells (rate x epochs: held-out {metric.label}) | default | best | gap |")
    print("|---|---|---:|---:|---:|")
    from peftkit.registry import list_strategies

    order = {name: i for i, name in enumerate(list_strategies())}
    for strategy, cells in sorted(_cells(records).items(), key=lambda item: order.get(item[0].split(":")[0], len(order))):
        ok = {k: v[metric.key] for k, v in cells.items() if v.get("status") == "ok"}
        if not ok:
            continue
        best = max(ok, key=ok.get)
        shown = ", ".join(f"{lr:g} x {ep:g}: {score:.3f}" for (lr, ep), score in sorted(ok.items()))
        default = _default_cell(records, strategy)
        own = f"{ok[default]:.3f} ({default[0]:g} x {default[1]:g})" if default in ok else \
            f"not run ({default[0]:g} x {default[1]:g})"
        gap = f"{(ok[best] - ok[default]) * 100:.1f}" if default in ok else ""
        print(f"| {strategy} | {shown} | {own} | {ok[best]:.3f} ({best[0]:g} x {best[1]:g}) | {gap} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    for name in ("run", "table"):
        p = sub.add_parser(name)
        p.add_argument("--dataset", default="sst2", help="a directory under ../shared/data")
        p.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
        p.add_argument("--n", type=int, help="training examples (default: all)")
        p.add_argument("--strategies", default=",".join(CORE))
        p.add_argument("--epochs", default="default", help="comma-separated; 'default': the strategy's own")
        p.add_argument("--lr-factors", default="1", help="factors of each strategy's default rate")
        p.add_argument("--model", default="builtin:all-minilm-l6-v2")
        p.add_argument("extra", nargs="*", help="more `peftkit compare` flags, after --")
    args = parser.parse_args()
    run(args) if args.action == "run" else table(args)


if __name__ == "__main__":
    main()
