"""One sweep's wall time with ``--jobs 1`` and with ``--jobs N``, measured in one run, and whether every run's
metrics agree between the two.

    python benchmarks/jobs.py --jobs 2 --output benchmarks/results/jobs-cpu

Runs the same ``peftkit compare`` twice, one after the other, into two new stores (``/tmp`` unless ``--keep``),
first with ``--jobs 1``, then with ``--jobs N``, and writes ``OUTPUT/README.md`` (the command, the machine,
the versions, the table) and ``OUTPUT/jobs.json`` (both wall times and every run's metrics both ways). The
sweep: all-MiniLM-L6-v2 on 400 SST-2 sentences (the size of the demo), six strategies, two epochs: each run
about a minute on one core, long enough that a run's own start (Python, torch, the model) is not most of it.
Time it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from reference import machine  # noqa: E402  (the benchmarks' one description of the machine)

STRATEGIES = ("head", "bitfit", "lora", "ia3", "adapter", "prefix")
METRICS = ("status", "eval_accuracy", "eval_f1_macro", "eval_loss", "train_loss", "train_seconds")


def sweep(args, jobs: int, output: Path) -> float:
    dataset = os.path.relpath(Path(args.data_root) / "sst2", REPO)
    command = [sys.executable, "-m", "peftkit", "compare", "--model", args.model, "--dataset", dataset,
               "--max-train-samples", "400", "--max-eval-samples", "400", "--epochs", "2", "--seeds", "0",
               *[a for s in args.strategies.split(",") for a in ("-s", s)], "--jobs", str(jobs), "--output", str(output)]
    print("$", shlex.join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True)
    return time.perf_counter() - start


def runs(output: Path) -> dict[str, dict]:
    records = (json.loads(p.read_text()) for p in (output / "runs").glob("*.json"))
    return {r["run_info"]["config"]["strategy"]: {k: r["train_info"].get(k) for k in METRICS} for r in records}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--output", required=True)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--model", default="builtin:all-minilm-l6-v2")
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--keep", action="store_true", help="keep the two stores in OUTPUT/ (default: a temporary folder)")
    args = parser.parse_args()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    work = out if args.keep else Path(tempfile.mkdtemp(prefix="peftkit-jobs-"))
    seconds = {jobs: sweep(args, jobs, work / f"jobs-{jobs}") for jobs in (1, args.jobs)}
    one, many = runs(work / "jobs-1"), runs(work / f"jobs-{args.jobs}")
    write(args, out, seconds, one, many)


def write(args, out: Path, seconds: dict[int, float], one: dict, many: dict) -> None:
    import peftkit
    import torch
    import transformers

    n = args.jobs
    ratio = seconds[1] / seconds[n]
    same = all(one[s][k] == many[s][k] for s in one for k in ("status", "eval_accuracy", "eval_f1_macro"))
    loss_gap = max(abs(one[s][k] - many[s][k]) / abs(one[s][k]) for s in one for k in ("eval_loss", "train_loss")
                   if one[s][k] and many[s][k] is not None)
    (out / "jobs.json").write_text(json.dumps({"wall_seconds": seconds, "speedup": ratio, "runs_jobs_1": one,
                                                f"runs_jobs_{n}": many}, indent=2) + "\n")
    rows = "\n".join(f"| {s} | {one[s]['eval_accuracy']:.4f} | {many[s]['eval_accuracy']:.4f} | "
                     f"{one[s]['train_seconds']:.1f} | {many[s]['train_seconds']:.1f} |" for s in one)
    command = " ".join(["python benchmarks/jobs.py", "--jobs", str(n), "--output", args.output])
    (out / "README.md").write_text(f"""# One sweep with `--jobs 1` and `--jobs {n}` (issue 22)

Command (repository root, `pip install -e ".[bench]"`, an otherwise idle machine):

    {command}

The same `peftkit compare` twice, one after the other: all-MiniLM-L6-v2 on 400 SST-2 training sentences (scored on
400 validation sentences), strategies {', '.join(one)}, 2 epochs, seed 0; first `--jobs 1` (each run in turn,
torch's default threads), then `--jobs {n}` ({n} runs at once, the cores divided between them).

Machine: {machine()}; torch {torch.__version__}, transformers {transformers.__version__}, peftkit {peftkit.__version__},
python {sys.version.split()[0]}.

| | wall time |
|---|---:|
| `--jobs 1` | {seconds[1]:.0f} s |
| `--jobs {n}` | {seconds[n]:.0f} s |
| ratio (`--jobs 1` / `--jobs {n}`) | **{ratio:.2f}x** |

| strategy | accuracy, jobs 1 | accuracy, jobs {n} | train s, jobs 1 | train s, jobs {n} |
|---|---:|---:|---:|---:|
{rows}

Of the {seconds[1]:.0f} s with `--jobs 1`, {sum(r['train_seconds'] for r in one.values()):.0f} s were training; the rest is each
run's start (Python, torch, the model), its data and its evaluation, which `--jobs {n}` overlaps with another
run's training. A run's training alone is slower with fewer threads (the train s columns).

Metrics: {'every run has the same status, accuracy and macro F1 both ways' if same else 'SOME RUNS DIFFER (see jobs.json)'}; the
losses differ by at most {loss_gap:.1e} (relative): a run with fewer torch threads adds its sums up in another
order. `jobs.json` holds both wall times and every run's metrics both ways.
""")
    print(f"jobs 1: {seconds[1]:.0f} s, jobs {n}: {seconds[n]:.0f} s, ratio {ratio:.2f}; metrics same: {same}")


if __name__ == "__main__":
    main()
