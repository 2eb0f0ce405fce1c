"""Mean pooling (peftkit/pooling.py), for every strategy that offers a ``pooling`` option."""

import dataclasses

import pytest
import torch
from tiny_models import tiny_model

import peftkit
from peftkit.registry import list_strategies, strategy_class

POOLED = [name for name in list_strategies()
          if "pooling" in {f.name for f in dataclasses.fields(strategy_class(name).Options)}]


def test_the_strategies_that_train_no_peft_adapter_offer_pooling():
    assert {"head", "full", "gradual"} <= set(POOLED)
    assert not any(strategy_class(name).peft_backed for name in POOLED)  # a peft adapter cannot express it


@pytest.mark.parametrize("name", POOLED)
def test_mean_pooling_ignores_padding(name):
    model = peftkit.get_strategy(name, pooling="mean").apply(tiny_model("bert")).eval()
    ids = torch.tensor([[7, 8, 9, 10]])
    short = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    padded_ids = torch.tensor([[7, 8, 9, 10, 0, 0, 0]])
    padded = model(input_ids=padded_ids, attention_mask=torch.tensor([[1, 1, 1, 1, 0, 0, 0]])).logits
    assert torch.allclose(short, padded, atol=1e-5)
    default = peftkit.get_strategy(name, pooling="head").apply(tiny_model("bert")).eval()
    assert not torch.allclose(default(input_ids=ids).logits, short)


@pytest.mark.parametrize("name", POOLED)
def test_auto_pooling_follows_a_sentence_transformers_config(name, tmp_path):
    plain = tiny_model("bert")
    assert peftkit.get_strategy(name, pooling="auto").apply(plain).peftkit_strategy.saved_options(plain)["pooling"] == "head"
    model = tiny_model("bert")
    model.config._name_or_path = str(tmp_path)
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true}')
    strategy = peftkit.get_strategy(name, pooling="auto")
    strategy.apply(model)
    assert strategy.options.pooling == "auto"  # apply leaves the strategy's options as given
    saved = strategy.saved_options(model)
    assert saved["pooling"] == "mean"  # recorded, so a saved artifact reloads with it
    assert "mean pooling" in peftkit.get_strategy(name, **saved).cannot_merge()


@pytest.mark.parametrize("name", POOLED)
def test_mean_pooled_model_round_trips_and_refuses_merge(name, tmp_path):
    model = peftkit.get_strategy(name, pooling="mean").apply(tiny_model("bert"))
    with torch.no_grad():
        model.classifier.weight.add_(0.5)
    ids = torch.tensor([[7, 8, 9, 0]])
    mask = torch.tensor([[1, 1, 1, 0]])
    before = model.eval()(input_ids=ids, attention_mask=mask).logits
    peftkit.save(model, tmp_path / "a")
    loaded = peftkit.load(tmp_path / "a", base_model=tiny_model("bert"))
    assert torch.allclose(before, loaded(input_ids=ids, attention_mask=mask).logits, atol=1e-6)
    with pytest.raises(peftkit.PeftkitError, match="mean pooling"):
        peftkit.merge(tmp_path / "a", tmp_path / "merged", base_model=None)
