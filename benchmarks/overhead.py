"""peftkit's overhead against a plain transformers + peft + Trainer script with the same arguments and seed.

    python benchmarks/overhead.py --train-samples 2000 --repeats 2

For LoRA and for full fine-tuning, trains the same configuration twice, each in a fresh process:
through peftkit (``peftkit.training.train_and_evaluate``, what ``peftkit train``/``compare`` run) and
through the plain script below, which uses only transformers, peft and the Trainer with the arguments
peftkit passes. Reports wall time of ``trainer.train()`` (best of ``--repeats``, alternating),
peak memory (process peak RSS on CPU, the allocator's peak on CUDA) and the two loss curves.
Targets: time ratio <= 1.03, memory ratio <= 1.01, loss curves equal.

Model all-MiniLM-L6-v2; data: the first ``--train-samples`` rows of ../shared/data/sst2/train.csv
(written to a temporary directory so both sides read exactly the same file).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# The arguments peftkit passes to TrainingArguments for these runs (peftkit/training.py), written out.
STRATEGIES = {"lora": {"learning_rate": 1e-3, "warmup_steps": 0.06, "weight_decay": 0.01},
              "full": {"learning_rate": 5e-5, "warmup_steps": 0.06, "weight_decay": 0.01}}


def plain(model_path: str, data_dir: str, strategy: str, epochs: float, work: str) -> dict:
    """The user's own script: transformers + peft + Trainer, nothing from peftkit."""
    import pandas as pd
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments, set_seed)

    set_seed(0)
    frame = pd.read_csv(Path(data_dir) / "train.csv")
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_path, num_labels=2, id2label={0: "0", 1: "1"}, label2id={"0": 0, "1": 1})
    if strategy == "lora":
        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.1, task_type="SEQ_CLS",
                                                 target_modules=r"bert\.encoder\.layer\.\d+\.(attention\.self\.query|attention\.self\.value)"))
    train = Dataset.from_dict({"text": frame.text.tolist(), "label": frame.label.tolist()})
    train = train.map(lambda b: tokenizer(b["text"], truncation=True, max_length=128), batched=True,
                      remove_columns=["text"]).rename_column("label", "labels")
    args = TrainingArguments(
        output_dir=work, num_train_epochs=epochs, per_device_train_batch_size=16, seed=0, data_seed=0,
        eval_strategy="no", save_strategy="no", logging_steps=10, logging_nan_inf_filter=False, report_to=[],
        disable_tqdm=True, use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0,
        train_sampling_strategy="group_by_length", per_device_eval_batch_size=64, **STRATEGIES[strategy])
    trainer = Trainer(model=model, args=args, train_dataset=train, data_collator=DataCollatorWithPadding(tokenizer))
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    return {"train_seconds": seconds, "peak_memory_bytes": _peak(),
            "loss_curve": [[h["step"], h["loss"]] for h in trainer.state.log_history if "loss" in h]}


def through_peftkit(model_path: str, data_dir: str, strategy: str, epochs: float, work: str) -> dict:
    from peftkit.training import RunConfig, train_and_evaluate

    info = train_and_evaluate(RunConfig(model=model_path, dataset=data_dir, strategy=strategy, epochs=epochs,
                                        eval_split="train", max_eval_samples=64), work)
    return {"train_seconds": info["train_seconds"], "peak_memory_bytes": info["peak_memory_bytes"],
            "loss_curve": info["train_loss_curve"]}


def _peak() -> int:
    import torch

    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated())
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(variant: str, model_path: str, data_dir: str, strategy: str, epochs: float) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as work:
        result = (plain if variant == "plain" else through_peftkit)(model_path, data_dir, strategy, epochs, work)
    print("@@result " + json.dumps(result))


def run_child(variant: str, model_path: str, data_dir: str, strategy: str, epochs: float) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", variant, "--model", model_path, "--data", data_dir,
                          "--strategy", strategy, "--epochs", str(epochs)], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith("@@result "):
            return json.loads(line[len("@@result "):])
    raise SystemExit(f"{variant} {strategy} failed:\n{out.stderr[-3000:]}")


def summarise(strategy: str, runs: dict[str, list[dict]]) -> dict:
    """Ratios peftkit / plain: best (fastest) run against best run, and median against median; the
    spread of the same variant's runs says how much of a ratio this machine can resolve."""
    seconds = {v: sorted(r["train_seconds"] for r in rs) for v, rs in runs.items()}
    curves = [r["loss_curve"] for r in runs["plain"] + runs["peftkit"]]
    return {
        "strategy": strategy,
        "time_ratio": seconds["peftkit"][0] / seconds["plain"][0],
        "median_time_ratio": statistics.median(seconds["peftkit"]) / statistics.median(seconds["plain"]),
        "run_to_run_spread": max(s[-1] / s[0] - 1 for s in seconds.values()),
        "memory_ratio": min(r["peak_memory_bytes"] for r in runs["peftkit"])
        / min(r["peak_memory_bytes"] for r in runs["plain"]),
        "loss_curves_equal": all(c == curves[0] for c in curves),
        "max_loss_difference": max(abs(a[1] - b[1]) for c in curves[1:] for a, b in zip(curves[0], c)) if curves[0] else None,
        "logged_points": len(curves[0]), "runs": runs}


def write_readme(out: Path, meta: dict, rows: list[dict]) -> None:
    table = "\n".join(
        f"| {r['strategy']} | {r['time_ratio']:.3f} | {r['median_time_ratio']:.3f} | {r['run_to_run_spread']:.1%} | "
        f"{r['memory_ratio']:.3f} | {'yes' if r['loss_curves_equal'] else 'no'} "
        f"({'no points logged' if r['max_loss_difference'] is None else format(r['max_loss_difference'], '.2g')}) |"
        for r in rows)
    (out / f"README-{meta['device']}.md").write_text(
        f"# peftkit vs plain transformers + peft + Trainer ({meta['device']})\n\n"
        f"Command: `{meta['command']}`  \nMachine: {meta['machine']}  \nVersions: peftkit {meta['peftkit']}, "
        f"torch {meta['torch']}, transformers {meta['transformers']}\n\n"
        f"all-MiniLM-L6-v2, first {meta['train_samples']} rows of SST-2 train, {meta['epochs']:g} epoch(s), seed 0, "
        f"{meta['repeats']} alternating runs of each variant, each in a fresh process; time is `trainer.train()`. "
        "Targets: time <= 1.03, memory <= 1.01, equal loss curves.\n\n"
        "| strategy | time peftkit / plain (best runs) | (median runs) | run-to-run spread | "
        "peak memory peftkit / plain | loss curves equal (max difference) |\n"
        f"|---|---:|---:|---:|---:|---|\n{table}\n\n"
        "Run-to-run spread: the largest (slowest / fastest - 1) among the runs of one variant, i.e. how far the "
        "same program's time moves on this machine. A time ratio inside that spread is not a measured overhead.\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-samples", type=int, default=2000)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--strategies", default="lora,full")
    parser.add_argument("--output", default=str(HERE / "results" / "overhead"))
    parser.add_argument("--base-model", default="builtin:all-minilm-l6-v2",
                        help="the model (on the GPU machine: .carry/minilm-fp16 from benchmarks/gpu_carry.py)")
    parser.add_argument("--data-root", default=str(HERE.parent.parent / "shared" / "data"))
    parser.add_argument("--child")
    parser.add_argument("--model")
    parser.add_argument("--data")
    parser.add_argument("--strategy")
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.model, args.data, args.strategy, args.epochs)

    import pandas as pd
    import peftkit
    import torch
    import transformers
    from peftkit.modeling import resolve_model

    from reference import machine

    model_path = str(Path(resolve_model(args.base_model)).resolve())
    source = Path(args.data_root) / "sst2" / "train.csv"
    rows = []
    with tempfile.TemporaryDirectory() as data_dir:
        pd.read_csv(source).head(args.train_samples).to_csv(Path(data_dir) / "train.csv", index=False)
        for strategy in args.strategies.split(","):
            runs = {"plain": [], "peftkit": []}
            for _ in range(args.repeats):
                for variant in ("plain", "peftkit"):
                    runs[variant].append(run_child(variant, model_path, data_dir, strategy, args.epochs))
                    r = runs[variant][-1]
                    print(f"{strategy:5s} {variant:8s} {r['train_seconds']:7.1f} s  peak {r['peak_memory_bytes'] / 2**20:7.0f} MiB",
                          flush=True)
            rows.append(summarise(strategy, runs))
            print(f"{strategy}: time ratio {rows[-1]['time_ratio']:.3f} (median {rows[-1]['median_time_ratio']:.3f}), "
                  f"memory ratio {rows[-1]['memory_ratio']:.3f}, loss curves equal: {rows[-1]['loss_curves_equal']} "
                  f"(max difference {rows[-1]['max_loss_difference']})", flush=True)

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    meta = {"command": ("python benchmarks/overhead.py " + " ".join(sys.argv[1:])).strip(), "machine": machine(),
            "peftkit": peftkit.__version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "device": device, "train_samples": args.train_samples, "epochs": args.epochs, "repeats": args.repeats}
    (out / f"results-{device}.json").write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    write_readme(out, meta, rows)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
