"""Options whose effect the matrix test does not see."""

import torch
from tiny_models import batch, tiny_model
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import peftkit
from peftkit import demo


def test_adapters_are_near_identity_at_init():
    model = tiny_model("bert").eval()
    expected = model(**batch("bert")).logits
    for variant in ("houlsby", "pfeiffer"):
        adapted = peftkit.get_strategy("adapter", variant=variant).apply(tiny_model("bert")).eval()
        torch.testing.assert_close(adapted(**batch("bert")).logits, expected)


def test_adapter_bottleneck_overrides_reduction_factor():
    model = peftkit.get_strategy("adapter", bottleneck=4, variant="pfeiffer").apply(tiny_model("bert"))
    counts = peftkit.count_parameters(model)
    assert counts.breakdown["added"]["trainable"] == 2 * (32 * 4 + 4 + 4 * 32 + 32)  # 2 layers


def test_prompt_initialised_from_text(tmp_path):
    path = demo.write_tiny_model(tmp_path / "m")
    model = AutoModelForSequenceClassification.from_pretrained(path)
    embeddings = model.get_input_embeddings().weight.detach().clone()
    strategy = peftkit.get_strategy("prompt", init="text", init_text="the film is great", num_virtual_tokens=4,
                                    tokenizer=str(path))
    prompted = strategy.apply(model)
    prompt = prompted.prompt_encoder["default"].embedding.weight
    # peft's text initialisation: the tokenizer's ids of the text (special tokens included), cut to length
    ids = AutoTokenizer.from_pretrained(path)("the film is great")["input_ids"][:4]
    assert len(set(ids)) == 4
    torch.testing.assert_close(prompt.detach(), embeddings[ids])


def test_gradual_lr_decay_groups():
    model = peftkit.get_strategy("gradual", lr_decay=0.5).apply(tiny_model("bert"))
    groups = model.peftkit_strategy.parameter_groups(model, lr=1.0)
    rates = {g["depth"]: g["lr"] for g in groups}
    assert rates == {0: 1.0, 1: 1.0, 2: 0.5, 3: 0.25}
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
