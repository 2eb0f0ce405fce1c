"""Model FLOPs of training and MFU (peftkit/flops.py), counted by hand on the tiny models."""

import pytest
import torch
from tiny_models import FFN, HIDDEN, LABELS, LAYERS, tiny_model

import peftkit
from peftkit import flops

# tiny BERT's matmul weights (nn.Linear), from its shapes: per layer query, key, value and attention output
# (HIDDEN x HIDDEN each), intermediate (HIDDEN x FFN) and output (FFN x HIDDEN); then the pooler and the head
BERT_LAYER = 4 * HIDDEN * HIDDEN + 2 * HIDDEN * FFN
BERT_WEIGHTS = LAYERS * BERT_LAYER + HIDDEN * HIDDEN + HIDDEN * LABELS
HEAD_WEIGHTS = HIDDEN * LABELS  # BERT's classifier; its bias is no matmul weight


def attention(seq_len):
    return 4 * seq_len * HIDDEN * LAYERS  # scores and their use, per token forward


def test_the_hand_count_of_tiny_bert():
    assert BERT_WEIGHTS == 17_504  # 2 x 8,192 + 1,024 + 96: the numbers the counts below rest on


def test_full_training_counts_forward_input_and_weight_gradients():
    model = tiny_model("bert")
    seq_len = 10
    forward = 2 * BERT_WEIGHTS + attention(seq_len)
    backward = 2 * BERT_WEIGHTS + 2 * BERT_WEIGHTS + 2 * attention(seq_len)
    assert forward + backward == 112_704
    assert flops.training_flops_per_token(model, seq_len=seq_len) == 112_704.0


def test_backward_through_the_body_off_and_on():
    """The head alone trains: its weight gradient always; the body's input gradients only when asked."""
    model = peftkit.get_strategy("head", pooling="head").apply(tiny_model("bert"))
    seq_len = 10
    forward = 2 * BERT_WEIGHTS + attention(seq_len)
    off = flops.training_flops_per_token(model, backward_through_body=False, seq_len=seq_len)
    on = flops.training_flops_per_token(model, backward_through_body=True, seq_len=seq_len)
    assert off == forward + 2 * HEAD_WEIGHTS == 37_760.0
    assert on == forward + 2 * HEAD_WEIGHTS + 2 * BERT_WEIGHTS + 2 * attention(seq_len) == 77_888.0
    assert on - off == 2 * BERT_WEIGHTS + 2 * attention(seq_len)


def test_attention_grows_with_the_sequence_length():
    model = tiny_model("bert")
    short = flops.training_flops_per_token(model, seq_len=10)
    long = flops.training_flops_per_token(model, seq_len=20)
    assert long - short == 3 * (attention(20) - attention(10)) == 7_680  # forward once, backward twice


def test_gpt2_conv1d_weights_count_as_matmuls():
    """GPT-2's projections are transformers' Conv1D, not nn.Linear: they must count all the same."""
    model = tiny_model("gpt2")
    inner = 4 * HIDDEN  # GPT-2's default n_inner
    per_layer = HIDDEN * 3 * HIDDEN + HIDDEN * HIDDEN + HIDDEN * inner + inner * HIDDEN  # c_attn, c_proj, c_fc, c_proj
    weights = LAYERS * per_layer + HIDDEN * LABELS  # + the score head
    assert weights == 24_672
    seq_len = 8
    assert flops.training_flops_per_token(model, seq_len=seq_len) == 6 * weights + 3 * attention(seq_len)


def test_mfu_is_none_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert flops.peak_flops("bf16") is None
    assert flops.mfu(1e12, "bf16") is None
    assert flops.mfu(1e12, "fp32") is None


@pytest.mark.parametrize("device, dtype, peak", [
    ("NVIDIA H200", "bf16", 989e12),
    ("NVIDIA H100 80GB HBM3", "fp32", 494.5e12),
    ("NVIDIA A100-SXM4-80GB", "fp16", 312e12),  # A100, not A10, although "A10" is in the name too
    ("NVIDIA L40S", "bf16", 362e12),  # L40S, not L4
    ("NVIDIA L4", "bf16", 121e12),
    ("NVIDIA A10G", "fp32", 62.5e12),
    ("Tesla T4", "fp16", 65e12),
])
def test_peak_by_device_name(monkeypatch, device, dtype, peak):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: device)
    assert flops.peak_flops(dtype) == peak
    assert flops.mfu(peak / 4, dtype) == 0.25


@pytest.mark.parametrize("device, dtype", [
    ("Tesla V100-SXM2-16GB", "bf16"),  # a known GPU without that dtype's tensor cores
    ("AMD Instinct MI300X", "bf16"),  # a device not in the table
])
def test_no_peak_no_mfu(monkeypatch, device, dtype):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: device)
    assert flops.peak_flops(dtype) is None
    assert flops.mfu(1e12, dtype) is None
