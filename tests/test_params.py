"""Parameter accounting, against the reference numbers for a bert-base config."""

import pytest
import torch
import transformers as T
from tiny_models import tiny_model

import peftkit
from peftkit.modeling import build_on_meta


@pytest.mark.parametrize("spec, excluding_head", [
    ("lora:r=8", 294_912),                  # 12 layers x (query + value) x 8 x (768 + 768)
    ("adapter:variant=houlsby,reduction_factor=16", 1_789_056),
    ("adapter:variant=pfeiffer", 894_528),
    ("ia3", 55_296),                        # 12 x (768 key + 768 value + 3072 feed-forward input)
    ("head", 0),
    ("full", 109_482_240),
])
def test_bert_base_reference_counts(spec, excluding_head):
    model = build_on_meta(T.BertConfig(), num_labels=2)
    counts = peftkit.count_parameters(peftkit.strategy_from_spec(spec).apply(model))
    assert counts.trainable_excluding_head == excluding_head
    assert counts.head_trainable == 768 * 2 + 2


def test_matches_peft_own_count():
    model = peftkit.get_strategy("lora", r=4).apply(tiny_model("roberta"))
    trainable, total = model.get_nb_trainable_parameters()
    counts = peftkit.count_parameters(model)
    assert (counts.trainable, counts.total) == (trainable, total)
    assert counts.percent == pytest.approx(100 * trainable / total)


def test_breakdown_separates_head_base_added():
    model = peftkit.get_strategy("adapter").apply(tiny_model("bert"))
    b = peftkit.count_parameters(model).breakdown
    assert b["base"]["trainable"] == 0 and b["base"]["total"] > 0
    assert b["head"]["trainable"] == 32 * 3 + 3
    assert b["added"]["trainable"] == b["added"]["total"] > 0


def test_tied_weights_counted_once():
    model = tiny_model("albert")  # ALBERT shares one layer across all depths
    assert peftkit.count_parameters(model).total == sum(p.numel() for p in model.parameters())


def test_meta_device_large_config_is_fast():
    config = T.LlamaConfig(hidden_size=8192, intermediate_size=28672, num_attention_heads=64, num_hidden_layers=80,
                           num_key_value_heads=8, vocab_size=128256)
    model = peftkit.get_strategy("lora").apply(build_on_meta(config))
    counts = peftkit.count_parameters(model)
    assert next(model.parameters()).device == torch.device("meta")
    assert counts.trainable_excluding_head == 80 * 8 * ((8192 + 8192) + (8192 + 1024))
