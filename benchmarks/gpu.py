"""The GPU memory and throughput benchmark: every strategy on model-sized configs, through `peftkit compare`.

    python benchmarks/gpu.py --suite encoders      # bert-base and roberta-large sized classifiers
    python benchmarks/gpu.py --suite decoder       # a 1.1B Llama-style decoder: full, lora, qlora, prefix, prompt
    python benchmarks/gpu.py --suite encoders --tiny --examples 64   # a smoke test of the script (any machine)

Weights are random (memory and speed do not depend on their values): each model directory is a config
plus the all-MiniLM-L6-v2 WordPiece tokenizer, with the vocabulary sized to it. The data are synthetic
texts longer than 128 tokens, so every batch is exactly batch 32 x length 128 after truncation. Each
(model, strategy) is one `peftkit compare` run in its own process: precision auto (bf16 on GPUs that
have it), peak memory from the CUDA allocator, samples/s, tokens/s, MFU, and `peftkit estimate`'s
prediction beside the measured peak. Results go to ``benchmarks/results/gpu-<model>/`` (one run file
each, never overwritten) with a README naming the command, device and versions.
"""

from __future__ import annotations

import argparse
import csv
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CORE = ["full", "head", "gradual", "lora", "prefix", "prompt", "adapter", "bitfit", "ia3"]
MODELS = {
    # name: (suite, config class, config kwargs, strategies)
    "bert-base": ("encoders", "BertConfig", dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                                                 intermediate_size=3072), CORE),
    "roberta-large": ("encoders", "RobertaConfig", dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                                                        intermediate_size=4096, max_position_embeddings=514,
                                                        type_vocab_size=1), CORE),
    "llama-1.1b": ("decoder", "LlamaConfig", dict(hidden_size=2048, num_hidden_layers=22, num_attention_heads=32,
                                                  num_key_value_heads=4, intermediate_size=5632,
                                                  max_position_embeddings=2048), ["full", "lora", "qlora", "prefix", "prompt"]),
}
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)


def write_model(name: str, directory: Path, tiny: bool, tokenizer_path: str) -> Path:
    import transformers
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from peftkit.modeling import resolve_model

    _, config_class, kwargs, _ = MODELS[name]
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(tokenizer_path))
    kwargs = {**kwargs, **(TINY if tiny else {})}
    if "num_key_value_heads" in kwargs and tiny:
        kwargs["num_key_value_heads"] = 2
    config = getattr(transformers, config_class)(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                                                 num_labels=2, **kwargs)
    if config_class == "RobertaConfig":  # positions start after the padding index
        config.pad_token_id = tokenizer.pad_token_id
    AutoModelForSequenceClassification.from_config(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def write_data(directory: Path, examples: int) -> Path:
    rng = random.Random(0)
    words = "the film plot cast score ending acting was is not very quite truly good bad dull moving".split()
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", examples), ("validation", max(examples // 8, 16))):
        with open(directory / f"{split}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            for i in range(n):
                writer.writerow([" ".join(rng.choice(words) for _ in range(200)), i % 2])
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=["encoders", "decoder", "all"], default="all")
    parser.add_argument("--models", help="comma-separated subset of: " + ", ".join(MODELS))
    parser.add_argument("--examples", type=int, default=2048, help="training examples (steps = examples / 32)")
    parser.add_argument("--tiny", action="store_true", help="tiny configs: check the script, not the figures")
    parser.add_argument("--tokenizer", default="builtin:all-minilm-l6-v2",
                        help="where the WordPiece tokenizer comes from (on the GPU machine: .carry/minilm-fp16)")
    parser.add_argument("--work", default="/tmp/peftkit-gpu-bench")
    parser.add_argument("--results", default=str(HERE / "results"))
    args = parser.parse_args()

    from reference import machine

    work = Path(args.work)
    data = write_data(work / "data", args.examples)
    names = args.models.split(",") if args.models else [n for n, m in MODELS.items() if args.suite in ("all", m[0])]
    for name in names:
        model = write_model(name, work / name, args.tiny, args.tokenizer)
        out = Path(args.results) / (f"gpu-{name}" + ("-tiny" if args.tiny else ""))
        command = [sys.executable, "-m", "peftkit", "compare", "--model", str(model), "--dataset", str(data),
                   "--batch-size", "32", "--max-length", "128", "--epochs", "1", "--output", str(out),
                   *[a for s in MODELS[name][3] for a in ("-s", s)]]
        print("$", " ".join(command), flush=True)
        start = time.perf_counter()
        subprocess.run(command, check=True)
        minutes = (time.perf_counter() - start) / 60
        shown = "python benchmarks/gpu.py " + " ".join(sys.argv[1:])
        with open(out / "sweeps.md", "a") as f:
            f.write(f"- `{shown}` ({name}, {args.examples} examples, batch 32 x 128, 1 epoch): {minutes:.1f} min "
                    f"on {machine()}\n")


if __name__ == "__main__":
    main()
