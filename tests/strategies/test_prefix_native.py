"""peftkit's own prefix injection (architectures where peft's past_key_values route does not work)."""

import pytest
import torch
from tiny_models import batch, tiny_model

import peftkit

NATIVE = ["albert", "distilbert", "deberta-v2"]


@pytest.mark.parametrize("arch", NATIVE)
def test_empty_prefix_reproduces_the_model(arch, monkeypatch):
    """With zero prefix positions the injected attention must compute exactly what the model did."""
    reference = tiny_model(arch).eval()
    expected = reference(**batch(arch)).logits
    model = peftkit.get_strategy("prefix", num_virtual_tokens=3).apply(tiny_model(arch)).eval()
    encoder = model.peftkit_prefix
    monkeypatch.setattr(type(encoder), "forward", lambda self: torch.zeros(0, self.num_layers, 2, self.kv_dim))
    torch.testing.assert_close(model(**batch(arch)).logits, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("arch", NATIVE)
@pytest.mark.parametrize("projection", [False, True])
def test_prefix_changes_output_and_learns(arch, projection):
    model = peftkit.get_strategy("prefix", num_virtual_tokens=4, projection=projection).apply(tiny_model(arch))
    model.eval()
    before = model(**batch(arch)).logits.detach()
    with torch.no_grad():
        for p in model.peftkit_prefix.parameters():
            p.add_(torch.randn_like(p))
    out = model(**batch(arch))
    assert not torch.allclose(out.logits, before)
    out.loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.peftkit_prefix.parameters())


def test_padding_is_respected():
    """A padded position must not change the result of the unpadded sequence."""
    model = peftkit.get_strategy("prefix").apply(tiny_model("distilbert")).eval()
    b = batch("distilbert")
    short = {k: v[1:2, :6] for k, v in b.items() if k != "labels"}
    padded = {k: v[1:2] for k, v in b.items() if k != "labels"}
    torch.testing.assert_close(model(**short).logits, model(**padded).logits, rtol=1e-5, atol=1e-6)
