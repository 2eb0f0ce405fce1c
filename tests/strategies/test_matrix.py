"""Every registered strategy x every supported architecture x every task, on tiny random models.

The list of strategies comes from the registry, so a new strategy is tested automatically: it must
run forward and backward, give gradients exactly to its trainable parameters, and leave frozen
parameters bit-identical after an optimizer step. For the built-in strategies the trainable count is
also checked against a computation written here independently of peftkit's architecture module.
"""

from __future__ import annotations

import re

import pytest
import torch
from tiny_models import CONFIGS, batch, tiny_model

import peftkit
from peftkit.architectures import supported_model_types
from peftkit.errors import UpstreamError
from peftkit.tasks import TASKS

pytestmark = pytest.mark.canary

STRATEGIES = peftkit.list_strategies()
ARCHS = supported_model_types()

# Written out by hand from the transformers modeling files, independently of peftkit/architectures.py.
SEQUENCE_HEAD = {"bert": ["classifier"], "roberta": ["classifier"], "electra": ["classifier"], "albert": ["classifier"],
                 "distilbert": ["pre_classifier", "classifier"], "deberta-v2": ["pooler", "classifier"],
                 "gpt2": ["score"], "llama": ["score"], "qwen2": ["score"]}
# ...ForTokenClassification: dropout and one linear layer on every position
TOKEN_HEAD = {**{arch: ["classifier"] for arch in SEQUENCE_HEAD}, "llama": ["score"], "qwen2": ["score"]}
HEADS = {"sequence-classification": SEQUENCE_HEAD, "token-classification": TOKEN_HEAD}
BERT_NAMES = {"q": r"self\.query", "v": r"self\.value", "k": r"self\.key",
              "attn_out": r"attention\.output\.dense", "ffn_out": r"layer\.\d+\.output\.dense"}
NAMES = {
    "bert": BERT_NAMES, "roberta": BERT_NAMES, "electra": BERT_NAMES,
    "albert": {"q": r"attention\.query", "v": r"attention\.value", "k": r"attention\.key",
               "attn_out": r"attention\.dense", "ffn_out": r"ffn_output"},
    "distilbert": {"q": r"q_lin", "v": r"v_lin", "k": r"k_lin", "attn_out": r"out_lin", "ffn_out": r"lin2"},
    "deberta-v2": {"q": r"query_proj", "v": r"value_proj", "k": r"key_proj",
                   "attn_out": r"attention\.output\.dense", "ffn_out": r"layer\.\d+\.output\.dense"},
    "gpt2": {"q": r"c_attn", "v": r"c_attn", "k": r"c_attn", "attn_out": r"attn\.c_proj", "ffn_out": r"mlp\.c_proj"},
    "llama": {"q": r"q_proj", "v": r"v_proj", "k": r"k_proj", "attn_out": r"o_proj", "ffn_out": r"down_proj"},
}
NAMES["qwen2"] = NAMES["llama"]
# strategies that may refuse an architecture, and the word their reason must contain
EXPECTED_UNSUPPORTED = {("bitfit", "llama"): "bias"}
# peft implements these for torch Linear layers only; GPT-2's projections are Conv1D
EXPECTED_UNSUPPORTED.update({(method, "gpt2"): "Conv1D" for method in ("loha", "lokr", "oft", "boft", "hra")})
# qlora needs a CUDA GPU with bitsandbytes and a model loaded in 4-bit: these tiny models are not
EXPECTED_UNSUPPORTED.update({("qlora", arch): "bitsandbytes" for arch in CONFIGS})


def _modules(model, arch, *roles):
    pattern = re.compile("|".join(f"(^|\\.)({NAMES[arch][r]})$" for r in roles))
    seen, out = set(), []
    for name, m in model.named_modules():
        if pattern.search(name) and id(m) not in seen:
            seen.add(id(m))
            out.append(m)
    return out


def _in_out(m):
    if isinstance(m, torch.nn.Linear):
        return m.in_features, m.out_features
    return m.weight.shape[0], m.weight.shape[1]  # GPT-2 Conv1D stores (in, out)


def _head(model) -> list[str]:
    task = "token-classification" if type(model).__name__.endswith("ForTokenClassification") else "sequence-classification"
    return HEADS[task][model.config.model_type]


def _head_numel(model):
    return sum(p.numel() for h in _head(model) for p in getattr(model, h).parameters())


def expected_trainable(strategy: str, arch: str, model) -> int | None:
    """Trainable parameters of a *fresh* model after applying the strategy with default options."""
    head = _head_numel(model)
    emb = model.get_input_embeddings().embedding_dim
    n_attn = len(_modules(model, arch, "k"))
    if strategy == "full":
        return sum(p.numel() for p in model.parameters())
    if strategy in ("head", "gradual"):
        return head
    if strategy == "lora":  # r=8: A (r x in) + B (out x r)
        return head + sum(8 * sum(_in_out(m)) for m in _modules(model, arch, "q", "v"))
    if strategy == "ia3":  # a vector over the output of k, v; over the input of the feed-forward output
        return head + sum(_in_out(m)[1] for m in _modules(model, arch, "k", "v")) + \
            sum(_in_out(m)[0] for m in _modules(model, arch, "ffn_out"))
    if strategy == "adapter":  # houlsby, reduction 16: down (d*b + b) + up (b*d + d), after attn and ffn
        total = head
        for m in _modules(model, arch, "attn_out", "ffn_out"):
            d = _in_out(m)[1]
            b = d // 16
            total += 2 * d * b + b + d
        return total
    if strategy == "prompt":  # 20 virtual tokens in the token-embedding space
        return head + 20 * emb
    if strategy == "prefix":  # 20 key and 20 value vectors per attention layer, kv width
        kv = _in_out(_modules(model, arch, "k")[0])[1]
        if arch == "gpt2":
            kv //= 3  # fused qkv
        return head + 20 * n_attn * 2 * kv
    if strategy == "bitfit":
        return head + sum(p.numel() for n, p in model.named_parameters()
                          if n.endswith(".bias") and n.split(".")[0] not in _head(model))
    return None  # a strategy registered by someone else: only the generic checks apply


def _is_head_param(name: str, head: list[str]) -> bool:
    parts = name.split(".")
    return "modules_to_save" in parts or (parts[0] in head and "original_module" not in parts)


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_strategy_on_architecture(strategy, arch, task):
    model = tiny_model(arch, task=task)
    head = _head(model)
    expected = expected_trainable(strategy, arch, model)
    try:
        model = peftkit.get_strategy(strategy).apply(model)
    except UpstreamError:
        raise  # an installed release broke it: a failure here, an upstream-break line in the canary
    except peftkit.UnsupportedError as e:
        word = EXPECTED_UNSUPPORTED.get((strategy, arch))
        assert word is not None, f"{strategy} unexpectedly refused {arch}: {e}"
        assert strategy in str(e) and type(model).__name__ in str(e) and word in e.reason
        return
    assert (strategy, arch) not in EXPECTED_UNSUPPORTED
    model.train()
    counts = peftkit.count_parameters(model)
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert counts.trainable == sum(p.numel() for p in trainable.values()) > 0
    if expected is not None:
        assert counts.trainable == expected
    # the head always trains, and is counted as head
    head_names = [n for n in trainable if _is_head_param(n, head)]
    assert head_names and counts.head_trainable == sum(trainable[n].numel() for n in head_names)

    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    inputs = batch(arch, task=task)
    out = model(**inputs)
    assert torch.isfinite(out.loss)
    # one prediction per input position: prompt tokens do not shift a token head's outputs
    assert out.logits.shape[:-1] == (inputs["labels"].shape if TASKS[task].per_token else inputs["labels"].shape[:1])
    out.loss.backward()
    for n, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"trainable {n} got no gradient"
        else:
            assert p.grad is None, f"frozen {n} got a gradient"
    assert any(p.grad.abs().sum() > 0 for p in trainable.values())

    strategy_obj = model.peftkit_strategy
    optimizer = torch.optim.AdamW(strategy_obj.parameter_groups(model, lr=1e-2, weight_decay=0.01))
    optimizer.step()
    changed = 0
    for n, p in model.named_parameters():
        if p.requires_grad:
            changed += not torch.equal(p, before[n])
        else:
            assert torch.equal(p, before[n]), f"frozen {n} changed"
    assert changed > 0


def test_matrix_covers_registry():
    assert set(STRATEGIES) >= {"full", "head", "gradual", "lora", "prefix", "prompt", "adapter", "bitfit", "ia3"}
    assert set(ARCHS) == set(CONFIGS)
