"""Prefix tuning's two routes: peftkit's own injection on every family, and the choice between it and
peft's past_key_values route, made from what the installed model can do."""

import pytest
import torch
from tiny_models import CONFIGS, batch, tiny_model

import peftkit

pytestmark = pytest.mark.canary
from peftkit.architectures import arch_for_config
from peftkit.strategies import prefix as prefix_module

ARCHS = list(CONFIGS)
DECODERS = [a for a in ARCHS if arch_for_config(CONFIGS[a]()).causal]
ENCODERS = [a for a in ARCHS if a not in DECODERS]


def _native(arch, **options):
    return peftkit.get_strategy("prefix", route="native", **options).apply(tiny_model(arch))


def _zero_prefix(monkeypatch, model):
    encoder = model.peftkit_prefix
    monkeypatch.setattr(type(encoder), "forward", lambda self: torch.zeros(0, self.num_layers, 2, self.kv_dim))


@pytest.mark.parametrize("arch", ARCHS)
def test_empty_prefix_reproduces_the_model(arch, monkeypatch):
    """With zero prefix positions the injected attention must compute exactly what the model did."""
    reference = tiny_model(arch).eval()
    expected = reference(**batch(arch)).logits
    model = _native(arch, num_virtual_tokens=3).eval()
    _zero_prefix(monkeypatch, model)
    torch.testing.assert_close(model(**batch(arch)).logits, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("projection", [False, True])
def test_prefix_changes_output_and_learns(arch, projection):
    model = _native(arch, num_virtual_tokens=4, projection=projection)
    model.eval()
    before = model(**batch(arch)).logits.detach()
    with torch.no_grad():
        for p in model.peftkit_prefix.parameters():
            p.add_(torch.randn_like(p))
    out = model(**batch(arch))
    assert not torch.allclose(out.logits, before)
    out.loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.peftkit_prefix.parameters())


@pytest.mark.parametrize("arch", ENCODERS)
def test_padding_is_respected(arch):
    """A padded position must not change the result of the unpadded sequence."""
    model = _native(arch).eval()
    b = batch(arch)
    short = {k: v[1:2, :6] for k, v in b.items() if k != "labels"}
    padded = {k: v[1:2] for k, v in b.items() if k != "labels"}
    torch.testing.assert_close(model(**short).logits, model(**padded).logits, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("arch", DECODERS)
@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_decoders_stay_causal(arch, implementation):
    """Every real token sees the prefix and the tokens before it, never one after it."""
    model = tiny_model(arch)
    model.config._attn_implementation = implementation
    model = peftkit.get_strategy("prefix", route="native").apply(model).eval()
    with torch.no_grad():
        for p in model.peftkit_prefix.parameters():
            p.normal_()
    ids = batch(arch)["input_ids"][:1]
    changed = ids.clone()
    changed[0, -1] = (ids[0, -1] + 1) % 50 + 5

    def hidden(x):
        return model(input_ids=x, output_hidden_states=True).hidden_states[-1]

    early, late = hidden(ids), hidden(changed)
    torch.testing.assert_close(early[:, :-1], late[:, :-1], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(early[:, -1], late[:, -1])


@pytest.mark.parametrize("arch", DECODERS)
def test_decoder_refuses_an_attention_it_cannot_mask(arch):
    model = tiny_model(arch)
    model.config._attn_implementation = "flex_attention"
    with pytest.raises(peftkit.UnsupportedError, match="sdpa"):
        peftkit.get_strategy("prefix", route="native").apply(model)


@pytest.mark.parametrize("arch", ARCHS)
def test_auto_takes_peft_exactly_where_the_model_takes_past_key_values(arch):
    refusal = prefix_module.peft_refusal(tiny_model(arch))
    model = peftkit.get_strategy("prefix").apply(tiny_model(arch))
    assert prefix_module.route_of(model) == ("native" if refusal else "peft")
    assert model.peftkit_strategy.saved_options(model)["route"] == prefix_module.route_of(model)


@pytest.mark.parametrize("arch", ARCHS)
def test_both_routes_train_the_same_number_of_parameters(arch):
    native_count = peftkit.count_parameters(_native(arch)).trainable
    if prefix_module.peft_refusal(tiny_model(arch)):
        with pytest.raises(peftkit.UnsupportedError, match=r"past_key_values.*\(with transformers \d"):
            peftkit.get_strategy("prefix", route="peft").apply(tiny_model(arch))
    else:
        peft_model = peftkit.get_strategy("prefix", route="peft").apply(tiny_model(arch))
        assert peftkit.count_parameters(peft_model).trainable == native_count


def test_a_model_that_bypasses_the_attention_interface_is_refused_not_trained():
    """If a transformers release stopped calling the attention interface, the prefix would be ignored:
    the first forward must say so instead of training the head alone."""
    model = _native("bert")
    model.config._attn_implementation = "sdpa"  # as if the model no longer went through the wrapper
    with pytest.raises(peftkit.UnsupportedError, match="attention interface.*with transformers"):
        model(**batch("bert"))
