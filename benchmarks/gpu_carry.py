"""Prepare what the GPU machine needs and cannot fetch: run here (with network), then carry it there.

    python benchmarks/gpu_carry.py     # writes .whl/, .whl-quant/, .carry/ and .carry-model/ in the repository root

The GPU machine has torch, transformers, peft and accelerate but no network, no ``datasets``, no
``bitsandbytes`` and no all-MiniLM-L6-v2, and at most 64 MiB travel with one command. So:

- ``.whl/``: ``datasets`` and the two packages it needs that the machine lacks (about 1 MB); every call.
- ``.whl-quant/``: ``bitsandbytes`` for ``qlora`` (about 41 MB); only the decoder suite needs it.
- ``.carry/``: small things every call may need: ``sst2/`` (the CSV files of ``../shared/data/sst2``,
  which does not travel) and ``minilm-tokenizer/`` (the WordPiece tokenizer ``gpu.py`` builds its
  models with).
- ``.carry-model/minilm-fp16/``: all-MiniLM-L6-v2 with its weights stored in fp16 (45 MB instead of
  90 MB). Its ``config.json`` says ``dtype: float32``, so transformers loads the weights into fp32
  parameters as on the CPU (mixed precision then computes in bf16); without it, transformers 5's
  ``dtype="auto"`` would train fp16 parameters. The sentence-transformers files (mean pooling) come
  along, so ``head`` pools as it does on the CPU. Storing in fp16 rounds each weight to 11
  significant bits: the GPU table starts from weights that differ from the CPU's by that rounding.

All four are git-ignored. The commands that use them are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# What the GPU machine's image lacks for peftkit (its package list is in the device tool's KINDS.md).
WHEELS = ["datasets==5.2.0", "dill==0.4.1", "multiprocess==0.70.19"]
QUANT_WHEELS = ["bitsandbytes==0.50.2"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64", "any"]


def download(packages: list[str], directory: Path) -> None:
    directory.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
               "--python-version", "3.12", "--implementation", "cp", "-d", str(directory),
               *[a for p in PLATFORMS for a in ("--platform", p)], *packages]
    subprocess.run(command, check=True)


def write_fp16_model(directory: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    from peftkit.modeling import resolve_model

    source = Path(resolve_model("builtin:all-minilm-l6-v2"))
    if directory.exists():
        shutil.rmtree(directory)
    shutil.copytree(source, directory, ignore=shutil.ignore_patterns("model.safetensors", "*.bin", "onnx", "openvino"))
    tensors = load_file(str(source / "model.safetensors"))
    save_file({k: v.to(torch.float16) if v.is_floating_point() else v for k, v in tensors.items()},
              str(directory / "model.safetensors"), metadata={"format": "pt"})
    config = json.loads((directory / "config.json").read_text())
    config["dtype"] = "float32"  # parameters in fp32 as on the CPU; only the file is fp16
    config.pop("torch_dtype", None)
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def write_tokenizer(directory: Path) -> None:
    from transformers import AutoTokenizer

    from peftkit.modeling import resolve_model

    AutoTokenizer.from_pretrained(resolve_model("builtin:all-minilm-l6-v2")).save_pretrained(directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    args = parser.parse_args()

    download(WHEELS, REPO / ".whl")
    download(QUANT_WHEELS, REPO / ".whl-quant")
    write_fp16_model(REPO / ".carry-model" / "minilm-fp16")
    carry = REPO / ".carry"
    shutil.copytree(Path(args.data_root) / "sst2", carry / "sst2", dirs_exist_ok=True)
    write_tokenizer(carry / "minilm-tokenizer")
    for name in (".whl", ".whl-quant", ".carry", ".carry-model"):
        size = sum(f.stat().st_size for f in (REPO / name).rglob("*") if f.is_file())
        print(f"{name}: {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
