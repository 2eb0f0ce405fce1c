"""The head strategy's feature cache: the same logits and the same trained head as running the body."""

import datasets
import pytest
import torch
from tiny_models import CONFIGS, VOCAB, tiny_model
from transformers import Trainer, TrainingArguments

import peftkit
from peftkit import architectures as arch
from peftkit.feature_cache import FeatureCache

DECODERS = ("gpt2", "llama", "qwen2")


def _examples(model_type: str, n: int = 24, seed: int = 0) -> datasets.Dataset:
    g = torch.Generator().manual_seed(seed)
    rows = {"input_ids": [], "attention_mask": [], "labels": []}
    for i in range(n):
        length = int(torch.randint(3, 9, (1,), generator=g))
        rows["input_ids"].append(torch.randint(5, VOCAB, (length,), generator=g).tolist())
        rows["attention_mask"].append([1] * length)
        rows["labels"].append(i % 3)
    return datasets.Dataset.from_dict(rows)


def _collator(model_type: str, pad_id: int):
    left = model_type in DECODERS  # peftkit pads decoders on the left

    def collate(features):
        width = max(len(f["input_ids"]) for f in features)
        out = {"input_ids": [], "attention_mask": []}
        for f in features:
            pad = width - len(f["input_ids"])
            for key, fill in (("input_ids", pad_id), ("attention_mask", 0)):
                out[key].append([fill] * pad + list(f[key]) if left else list(f[key]) + [fill] * pad)
        if "labels" in features[0]:
            out["labels"] = [f["labels"] for f in features]
        return {k: torch.tensor(v) for k, v in out.items()}

    return collate


def _pad_id(model) -> int:
    return model.config.pad_token_id if model.config.pad_token_id is not None else 0


def _train(model, data, collate, out, use_cache: bool, epochs: int, per_token: bool = False) -> dict:
    """The trained parameters after Trainer.train, on the body (use_cache False) or on its cached features."""
    args = TrainingArguments(output_dir=str(out), num_train_epochs=epochs, learning_rate=1e-2,
                             per_device_train_batch_size=8, report_to=[], save_strategy="no",
                             logging_strategy="no", use_cpu=True, seed=0, disable_tqdm=True)
    if use_cache:
        cache = FeatureCache.build(model, data, collate, per_token=per_token)
        trainer = Trainer(model=model, args=args, train_dataset=cache.dataset(data["labels"]), data_collator=collate)
        with cache.serving():
            trainer.train()
    else:
        Trainer(model=model, args=args, train_dataset=data, data_collator=collate).train()
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("pooling", ["head", "mean"])
@pytest.mark.parametrize("model_type", list(CONFIGS))
def test_cached_logits_equal_real_logits(model_type, pooling):
    model = peftkit.get_strategy("head", pooling=pooling).apply(tiny_model(model_type)).eval()
    data = _examples(model_type)
    collate = _collator(model_type, _pad_id(model))
    cache = FeatureCache.build(model, data, collate, batch_size=len(data))  # GPT-2: positions depend on padding
    with torch.no_grad():
        real = model(**{k: v for k, v in collate(list(data)).items() if k != "labels"}).logits
        with cache.serving():
            rows = torch.arange(len(data)).unsqueeze(1)
            cached = model(input_ids=rows, attention_mask=torch.ones_like(rows)).logits
    assert torch.allclose(real, cached, atol=1e-5), (real - cached).abs().max()


@pytest.mark.parametrize("model_type", ["bert", "distilbert", "llama"])
def test_training_on_the_cache_gives_the_same_head(model_type, tmp_path):
    data = _examples(model_type, n=32)
    trained = []
    for use_cache in (False, True):
        torch.manual_seed(0)
        model = peftkit.get_strategy("head").apply(tiny_model(model_type))
        collate = _collator(model_type, _pad_id(model))
        trained.append(_train(model, data, collate, tmp_path / str(use_cache), use_cache, epochs=3))
    assert trained[0].keys() == trained[1].keys()
    for name in trained[0]:
        assert torch.allclose(trained[0][name], trained[1][name], atol=1e-5), name


def test_body_stays_in_eval_mode_and_head_trains():
    model = peftkit.get_strategy("head").apply(tiny_model("bert"))
    model.train()
    assert model.training and model.classifier.training
    assert not any(m.training for m in arch.body(model).modules())


# -- a head that labels tokens: every real token's state is cached ------------------------------------

TOKEN = "token-classification"


def _token_examples(model_type: str, n: int = 24) -> datasets.Dataset:
    data = _examples(model_type, n)
    labels = [[-100] + [(i + j) % 3 for j in range(len(ids) - 1)] for i, ids in enumerate(data["input_ids"])]
    return data.remove_columns("labels").add_column("labels", labels)


def _token_collator(model_type: str, pad_id: int):
    plain, left = _collator(model_type, pad_id), model_type in DECODERS

    def collate(features):
        out = plain([{k: v for k, v in f.items() if k != "labels"} for f in features])
        if "labels" in features[0]:
            width = out["input_ids"].shape[1]
            rows = [[-100] * (width - len(f["labels"])) + list(f["labels"]) if left else
                    list(f["labels"]) + [-100] * (width - len(f["labels"])) for f in features]
            out["labels"] = torch.tensor(rows)
        return out

    return collate


@pytest.mark.parametrize("model_type", list(CONFIGS))
def test_cached_token_logits_equal_real_logits(model_type):
    model = peftkit.get_strategy("head").apply(tiny_model(model_type, task=TOKEN)).eval()
    data = _token_examples(model_type)
    collate = _token_collator(model_type, _pad_id(model))
    # encoders: batches of 5, padded differently; decoders number positions from the padding: one at a time
    cache = FeatureCache.build(model, data, collate, batch_size=1 if model_type in DECODERS else 5, per_token=True)
    assert len(cache) == len(data) and cache.hidden.shape[0] == sum(len(ids) for ids in data["input_ids"])
    assert cache.nbytes == cache.hidden.numel() * 4
    served = cache.dataset(data["labels"])
    with torch.no_grad():
        for i in range(len(data)):  # one example at a time: its real logits need no padding
            real = model(input_ids=torch.tensor([data[i]["input_ids"]])).logits
            with cache.serving():
                cached = model(input_ids=torch.tensor([served[i]["input_ids"]])).logits
            assert torch.allclose(real, cached, atol=1e-5), (model_type, i, (real - cached).abs().max())


@pytest.mark.parametrize("model_type", ["bert", "llama"])  # GPT-2 numbers positions from the padding
def test_training_a_token_head_on_the_cache_gives_the_same_head(model_type, tmp_path):
    data = _token_examples(model_type, n=32)
    trained = []
    for use_cache in (False, True):
        torch.manual_seed(0)
        model = peftkit.get_strategy("head").apply(tiny_model(model_type, task=TOKEN))
        collate = _token_collator(model_type, _pad_id(model))
        trained.append(_train(model, data, collate, tmp_path / str(use_cache), use_cache, epochs=2, per_token=True))
    for name in trained[0]:
        assert torch.allclose(trained[0][name], trained[1][name], atol=1e-5), name
