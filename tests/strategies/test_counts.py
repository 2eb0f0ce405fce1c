"""Trainable counts of the peft-backed methods on bert-base (12 layers, hidden 768, feed-forward 3072, two
labels), against numbers worked out here from each method's shapes: equal to peft's own count, with the head
trained once and counted once, as head (peft#1070 counted it twice)."""

import pytest

import peftkit
from peftkit.modeling import build_on_meta, load_config
from peftkit.registry import strategy_from_spec

HEAD = 768 * 2 + 2  # the classifier
TARGETS = 12 * 2  # query and value of 12 layers, 768 -> 768 each
QV = TARGETS * 8 * (768 + 768)  # LoRA r=8: A (8 x 768) + B (768 x 8)
BERT_BASE = {
    "lora": QV,
    "lora:use_rslora=true": QV,  # the same matrices, another scale
    "lora:use_dora=true": QV + TARGETS * 768,  # and one magnitude per output feature
    # q, k, v, attention output (768 -> 768), intermediate (768 -> 3072), output (3072 -> 768)
    "lora:target_modules=all-linear": 12 * (4 * 8 * (768 + 768) + 2 * 8 * (768 + 3072)),
    "loha": TARGETS * 2 * 8 * (768 + 768),  # two LoRA-shaped pairs, multiplied elementwise
    # 768 = 24 x 32: a full 24 x 24 factor, and the 32 x 32 one at rank 8 (32 x 8 + 8 x 32)
    "lokr": TARGETS * (24 * 24 + 2 * 32 * 8),
    # 768 / 32 = 24 blocks, each skew-symmetric: 32 * 31 / 2 parameters
    "oft": TARGETS * 24 * (32 * 31 // 2),
    # one butterfly factor of 192 blocks of 4 x 4, and a scale per output feature
    "boft": TARGETS * (192 * 4 * 4 + 768),
    "hra": TARGETS * 768 * 8,  # 8 Householder vectors of the input size
    "vera": TARGETS * (768 + 256),  # a scale per output feature (b) and per rank (d); A and B frozen, shared
    "fourierft": TARGETS * 1000,  # 1000 spectral coefficients
    "ln_tuning": (1 + 12 * 2) * 2 * 768,  # the embeddings' LayerNorm and two a layer: weight and bias
    # 20 virtual tokens, then the MLP encoder 768 -> 128 -> 128 -> 768 (weights and biases)
    "ptuning": 20 * 768 + (768 * 128 + 128) + (128 * 128 + 128) + (128 * 768 + 768),
    "lora:init=pissa": QV,  # PiSSA and OLoRA start A and B elsewhere: the same matrices
    "lora:loraplus_lr_ratio=16": QV,  # LoRA+ changes B's rate, not what trains
    # SVD form at the initial rank 12: P (12 x 768), Q (768 x 12) and the 12 singular values (the rank count is frozen)
    "adalora": TARGETS * (12 * 768 + 768 * 12 + 12),
    "peft": TARGETS * 8 * (768 + 768),  # alone: peft's LoraConfig, r=8, on query and value
    "peft:method=LOHA,r=4": TARGETS * 2 * 4 * (768 + 768),
}


@pytest.mark.parametrize("spec", BERT_BASE)
def test_trainable_counts_on_bert_base_are_peft_s_own_and_the_head_once(spec):
    model = strategy_from_spec(spec).apply(build_on_meta(load_config("builtin:bert-base")))
    counts = peftkit.count_parameters(model)
    assert counts.trainable - counts.head_trainable == BERT_BASE[spec]
    assert counts.head_trainable == HEAD
    assert counts.trainable == model.get_nb_trainable_parameters()[0]


def test_every_peft_method_has_its_count_here():
    from peftkit.registry import strategy_class

    tuners = {n for n in peftkit.list_strategies() if strategy_class(n).peft_backed} - {"qlora", "prefix", "prompt", "ia3"}
    assert tuners <= {spec.split(":")[0] for spec in BERT_BASE}
