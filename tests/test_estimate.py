import json
import time

import pytest
import torch
import transformers as T
from tiny_models import CONFIGS, tiny_model

from peftkit.cli import main
from peftkit.errors import OptionError
from peftkit.estimate import estimate_memory, prepare_on_meta
from peftkit.modeling import load_config
from peftkit.params import count_parameters
from peftkit.registry import strategy_from_spec

TINY = "builtin:tiny-bert"


def saved_bytes(model, inputs) -> int:
    """Bytes autograd saves for backward in one forward: unique storages, parameters and buffers excluded."""
    own = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    saved: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in own:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(**inputs)
    return sum(saved.values())


def measured_activations(config, spec: str, batch: int, seq: int) -> int:
    torch.manual_seed(0)
    model = strategy_from_spec(spec).apply(T.AutoModelForSequenceClassification.from_config(config))
    model.train()
    ids = torch.randint(5, 100, (batch, seq))
    return saved_bytes(model, {"input_ids": ids, "attention_mask": torch.ones_like(ids),
                               "labels": torch.zeros(batch, dtype=torch.long)})


def cpu(spec, batch=4, seq=32, model=TINY, **kw):
    return estimate_memory(model, spec, batch, seq, device="cpu", precision="fp32", **kw)


# -- weights, gradients, optimizer: exact --------------------------------------------------------

def test_weights_are_the_real_parameter_and_buffer_bytes():
    real = T.AutoModelForSequenceClassification.from_config(load_config(TINY))
    expected = sum(t.numel() * t.element_size() for t in [*real.parameters(), *real.buffers()])
    for spec in ("full", "head"):
        assert cpu(spec).weights == expected


def test_head_trains_only_the_head():
    head = T.AutoModelForSequenceClassification.from_config(load_config(TINY)).classifier
    head_params = sum(p.numel() for p in head.parameters())
    e = cpu("head")
    assert e.gradients == head_params * 4
    assert e.optimizer == 2 * head_params * 4


def test_lora_optimizer_is_two_fp32_states_per_trainable_parameter():
    model, _ = prepare_on_meta(load_config(TINY), strategy_from_spec("lora"))
    trainable = count_parameters(model).trainable
    e = cpu("lora")
    assert e.gradients == 4 * trainable and e.optimizer == 8 * trainable
    assert cpu("lora", optimizer="sgd").optimizer == 0


def test_total_is_the_peak():
    e = cpu("full")
    assert e.total == e.weights + e.optimizer + max(e.activations, e.gradients)


# -- activations: shape of the formula -----------------------------------------------------------

def test_activations_are_linear_in_batch_and_grow_with_sequence_length():
    for spec in ("full", "lora", "head"):
        one, four = cpu(spec, batch=1).activations, cpu(spec, batch=4).activations
        assert four == 4 * one
        by_length = [cpu(spec, seq=n).activations for n in (8, 16, 64, 128)]
        assert by_length == sorted(by_length)
        assert len(set(by_length)) == (1 if spec == "head" else 4)  # BERT's head reads [CLS] only


def test_gradient_checkpointing_saves_activations():
    for spec in ("full", "lora"):
        plain = estimate_memory("builtin:bert-base", spec, 8, 256, device="cuda", precision="bf16")
        checkpointed = estimate_memory("builtin:bert-base", spec, 8, 256, device="cuda", precision="bf16",
                                       gradient_checkpointing=True)
        assert checkpointed.activations < plain.activations / 2
        assert any("checkpointing" in n for n in checkpointed.notes)


def test_frozen_body_saves_nothing_and_strategies_order():
    acts = {s: estimate_memory("builtin:bert-base", s, 16, 128, device="cuda").activations
            for s in ("head", "lora", "full", "gradual")}
    assert acts["head"] < 1e6 < acts["lora"] <= acts["full"]
    assert acts["gradual"] == acts["full"]  # estimated at its peak: everything unfrozen


def test_virtual_tokens_lengthen_the_sequence():
    prompt = cpu("prompt:num_virtual_tokens=16", seq=32)
    assert prompt.activations > cpu("prompt:num_virtual_tokens=1", seq=32).activations
    assert any("48" in n for n in prompt.notes)
    assert cpu("prefix").activations > 0


def test_precision_is_reported_and_mixed_precision_keeps_fp32_weights():
    fp32 = cpu("full")
    bf16 = estimate_memory(TINY, "full", 4, 32, device="cuda", precision="bf16")
    assert fp32.precision == "fp32" and bf16.precision == "bf16"
    assert bf16.weights == fp32.weights and bf16.gradients == fp32.gradients
    assert "bf16" in bf16.notes[0] and "float32 weights" in bf16.notes[0]
    if not torch.cuda.is_available():
        assert estimate_memory(TINY, "full", 4, 32).precision == "fp32"  # auto, here


def test_sequences_longer_than_learned_positions_are_refused():
    """Training would fail at the first long batch: no estimate (it would be absurd, 128,952 GiB), one error."""
    with pytest.raises(OptionError, match=r"seq_len 1024 exceeds the 512 positions.*seq_len <= 512"):
        estimate_memory("builtin:bert-base", "lora", 1, 1024, device="cuda")
    assert estimate_memory("builtin:bert-base", "lora", 1, 512, device="cuda").total > 0
    with pytest.raises(OptionError, match=r"512 plus 20 prompt tokens.*seq_len <= 492"):  # they take positions too
        estimate_memory("builtin:bert-base", "prompt", 1, 512, device="cuda")
    roberta = T.RobertaConfig(max_position_embeddings=514, pad_token_id=1)  # positions start after the padding
    with pytest.raises(OptionError, match="exceeds the 512 positions"):
        estimate_memory(roberta, "lora", 1, 513, device="cuda")
    llama = T.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                          max_position_embeddings=64)
    assert estimate_memory(llama, "lora", 1, 128, device="cuda").total > 0  # RoPE: no hard limit


@pytest.mark.parametrize("kwargs", [dict(batch_size=0), dict(seq_len=0), dict(precision="fp8"),
                                    dict(optimizer="lion"), dict(device="tpu")])
def test_bad_input_raises_option_error(kwargs):
    args = dict(batch_size=4, seq_len=32) | kwargs
    with pytest.raises(OptionError):
        estimate_memory(TINY, "full", **args)


# -- against a real measurement on CPU -----------------------------------------------------------

@pytest.mark.parametrize("attention_dropout", [0.1, 0.0])  # eager-style attention on CPU / fused SDPA kernel
@pytest.mark.parametrize("spec", ["full", "lora", "head"])
def test_activations_match_saved_tensors_of_a_real_bert(spec, attention_dropout):
    config = T.BertConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
                          vocab_size=1000, attention_probs_dropout_prob=attention_dropout)
    measured = measured_activations(config, spec, batch=16, seq=128)
    estimated = estimate_memory(config, spec, 16, 128, device="cpu", precision="fp32").activations
    ratio = estimated / measured
    print(f"{spec} attention_dropout={attention_dropout}: estimated/measured = {ratio:.3f}")
    assert 0.85 < ratio < 1.15


@pytest.mark.parametrize("model_type", sorted(CONFIGS))
def test_activations_match_every_architecture(model_type):
    for spec in ("full", "lora"):
        model = strategy_from_spec(spec).apply(tiny_model(model_type))
        model.train()
        ids = torch.randint(5, 100, (4, 32))
        measured = saved_bytes(model, {"input_ids": ids, "attention_mask": torch.ones_like(ids),
                                       "labels": torch.zeros(4, dtype=torch.long)})
        estimated = estimate_memory(CONFIGS[model_type](), spec, 4, 32, device="cpu", precision="fp32",
                                    num_labels=3).activations
        assert 0.65 < estimated / measured < 1.35, (spec, estimated / measured)


# -- big models stay cheap -----------------------------------------------------------------------

def test_7b_llama_on_meta_is_fast():
    config = T.LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32)
    start = time.perf_counter()
    lora = estimate_memory(config, "lora", 4, 1024, device="cuda", precision="bf16")
    full = estimate_memory(config, "full", 4, 1024, device="cuda", precision="bf16")
    assert time.perf_counter() - start < 60
    assert 6.5e9 * 4 < full.weights < 7e9 * 4 and full.optimizer == 2 * full.gradients
    assert lora.gradients < full.gradients / 100 and lora.activations < full.activations
    assert lora.total < full.total


# -- command line --------------------------------------------------------------------------------

def test_cli_table(capsys):
    main(["estimate", "--model", TINY, "-s", "lora", "-s", "full", "--batch-size", "8", "--seq-len", "64"])
    out = capsys.readouterr().out
    for word in ("lora", "full", "weights", "gradients", "optimizer", "activati", "fp32"):
        assert word in out


def test_cli_json(capsys):
    main(["estimate", "-m", TINY, "-s", "lora", "-s", "head", "--batch-size", "8", "--seq-len", "64",
          "--precision", "bf16", "--device", "cuda", "--gradient-checkpointing", "--format", "json"])
    rows = json.loads(capsys.readouterr().out)
    assert [r["strategy"] for r in rows] == ["lora", "head"]
    for r in rows:
        assert r["status"] == "ok" and r["precision"] == "bf16"
        assert {"weights", "gradients", "optimizer", "activations", "total", "notes"} <= set(r)


@pytest.mark.parametrize("args, words", [
    (["--seq-len", "0"], ["--seq-len", "positive"]),
    (["--batch-size", "-1"], ["--batch-size", "positive"]),
    (["-s", "nope"], ["unknown strategy 'nope'"]),
    (["--seq-len", "100000"], ["--seq-len 100000 exceeds the 512 positions", "--seq-len <= 512"]),
    (["-s", "prompt", "--seq-len", "500"], ["plus 20 prompt tokens", "--seq-len <= 492"]),
])
def test_cli_bad_input_is_one_line_and_exit_2(capsys, args, words):
    with pytest.raises(SystemExit) as exit_info:
        main(["estimate", "-m", TINY, *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0]


def test_estimating_leaves_the_random_state_alone():
    """compare estimates before training: the run's seeded initialisation must not depend on it."""
    import torch

    from peftkit.estimate import estimate_memory

    torch.manual_seed(0)
    state = torch.get_rng_state()
    estimate_memory("builtin:tiny-bert", "lora", 4, 16)
    assert torch.equal(state, torch.get_rng_state())
