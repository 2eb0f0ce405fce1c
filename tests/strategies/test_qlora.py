"""qlora: clear refusals without a CUDA GPU / bitsandbytes / a 4-bit model; a real 4-bit run on a GPU."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from click.testing import CliRunner
from tiny_models import CONFIGS, batch, tiny_model

import peftkit
import peftkit.strategies.qlora as qlora
from peftkit.cli import cli, main

HAS_GPU_QLORA = torch.cuda.is_available() and importlib.util.find_spec("bitsandbytes") is not None


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def gpu_ready(monkeypatch):
    """Pretend a CUDA GPU with bitsandbytes is there (for what can be checked without one)."""
    monkeypatch.setattr(qlora, "_missing", lambda: None)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)


def _one_clear_line(message: str) -> None:
    assert message and "\n" not in message
    assert "CUDA" in message and "bitsandbytes" in message and "`lora`" in message


def test_registered_and_listed():
    assert "qlora" in peftkit.list_strategies()
    assert "qlora" not in peftkit.core_strategies()
    result = CliRunner().invoke(cli, ["list"], terminal_width=250)
    assert result.exit_code == 0
    assert "qlora" in result.output and "compute_dtype" in result.output and "double_quant" in result.output


def test_options_are_validated_like_lora():
    with pytest.raises(peftkit.OptionError, match="strategy 'qlora'.*'r'.*positive"):
        peftkit.get_strategy("qlora", r=0)
    with pytest.raises(peftkit.OptionError, match="compute_dtype"):
        peftkit.get_strategy("qlora", compute_dtype="fp32")
    with pytest.raises(peftkit.OptionError, match="unknown option 'rank'.*valid options: r, alpha"):
        peftkit.get_strategy("qlora", rank=4)
    s = peftkit.strategy_from_spec("qlora:r=16,compute_dtype=fp16,double_quant=false")
    assert (s.options.r, s.options.compute_dtype, s.options.double_quant) == (16, "fp16", False)
    assert peftkit.strategy_from_spec(s.spec()).options == s.options
    assert peftkit.get_strategy("qlora").defaults.learning_rate == peftkit.get_strategy("lora").defaults.learning_rate


@pytest.mark.parametrize("arch", ["llama", "qwen2", "bert"])
def test_apply_without_cuda_refuses_clearly(no_cuda, arch):
    model = tiny_model(arch)
    with pytest.raises(peftkit.UnsupportedError) as e:
        peftkit.get_strategy("qlora").apply(model)
    _one_clear_line(str(e.value))
    assert "no CUDA device" in e.value.reason and type(model).__name__ in str(e.value)
    assert all(p.requires_grad for p in model.parameters()), "the model was left untouched"


def test_from_pretrained_kwargs_without_cuda_refuses_clearly(no_cuda):
    with pytest.raises(peftkit.PeftkitError) as e:
        peftkit.get_strategy("qlora").from_pretrained_kwargs()
    _one_clear_line(str(e.value))
    assert isinstance(e.value, peftkit.UnsupportedError)  # compare shows an `unsupported` row
    assert "qlora needs a CUDA GPU and bitsandbytes" in str(e.value)


def test_missing_bitsandbytes_is_named(monkeypatch):
    import transformers.utils

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(transformers.utils, "is_bitsandbytes_available", lambda *a, **k: False)
    with pytest.raises(peftkit.PeftkitError) as e:
        peftkit.get_strategy("qlora").from_pretrained_kwargs()
    _one_clear_line(str(e.value))
    assert "no CUDA" not in str(e.value) and "bitsandbytes>=" in str(e.value) and "not installed" in str(e.value)


def test_from_pretrained_kwargs(gpu_ready):
    kwargs = peftkit.get_strategy("qlora").from_pretrained_kwargs(CONFIGS["llama"]())
    q = kwargs["quantization_config"]
    assert q.load_in_4bit and not q.load_in_8bit
    assert (q.bnb_4bit_quant_type, q.bnb_4bit_use_double_quant, q.bnb_4bit_compute_dtype) == ("nf4", True, torch.bfloat16)
    assert q.llm_int8_skip_modules == ["score"]  # the head stays in full precision
    assert kwargs["dtype"] == torch.float32

    q = peftkit.get_strategy("qlora", compute_dtype="fp16", double_quant=False).from_pretrained_kwargs()["quantization_config"]
    assert (q.bnb_4bit_compute_dtype, q.bnb_4bit_use_double_quant) == (torch.float16, False)
    assert {"score", "classifier", "pre_classifier", "pooler"} <= set(q.llm_int8_skip_modules)  # no config: every head


def test_bf16_without_gpu_support_points_to_fp16(gpu_ready, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    with pytest.raises(peftkit.OptionError, match="qlora:compute_dtype=fp16"):
        peftkit.get_strategy("qlora").from_pretrained_kwargs()


def test_apply_to_a_full_precision_model_says_how_to_load(gpu_ready):
    model = tiny_model("llama")
    with pytest.raises(peftkit.UnsupportedError) as e:
        peftkit.get_strategy("qlora").apply(model)
    assert "not loaded in 4-bit" in e.value.reason and "from_pretrained_kwargs()" in e.value.reason
    assert "\n" not in str(e.value)


def test_params_cli_reports_an_unsupported_row(no_cuda, capsys):
    main(["params", "-m", "builtin:tiny-bert", "-s", "qlora", "-s", "lora", "--format", "json"])
    rows = {r["strategy"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["qlora"]["status"] == "unsupported" and "CUDA" in rows["qlora"]["reason"]
    assert "`lora`" in rows["qlora"]["reason"] and rows["lora"]["status"] == "ok"


@pytest.mark.skipif(not HAS_GPU_QLORA, reason="needs a CUDA GPU and bitsandbytes")
@pytest.mark.parametrize("arch", ["llama", "qwen2", "bert"])
def test_qlora_on_a_model_loaded_in_4bit(arch, tmp_path):
    import bitsandbytes as bnb
    from transformers import AutoModelForSequenceClassification

    tiny_model(arch).save_pretrained(tmp_path)
    strategy = peftkit.get_strategy("qlora")
    model = AutoModelForSequenceClassification.from_pretrained(
        tmp_path, **strategy.from_pretrained_kwargs(CONFIGS[arch]()))
    assert qlora.is_loaded_in_4bit(model)
    model = strategy.apply(model)
    model.train()

    base = peftkit.architectures.unwrap(model)
    linears = {n: m for n, m in base.named_modules() if isinstance(m, (torch.nn.Linear, bnb.nn.Linear4bit))}
    quantized = [n for n, m in linears.items() if isinstance(m, bnb.nn.Linear4bit)]
    head = peftkit.architectures.arch_for(model).head
    assert quantized and all(n.split(".")[0] not in head for n in quantized)
    for n, m in linears.items():  # every block linear is 4-bit; LoRA A/B and the head are not
        if ".layers." in n or ".layer." in n:
            assert isinstance(m, bnb.nn.Linear4bit) or "lora_" in n, n
    head_params = [p for n, p in model.named_parameters() if "modules_to_save" in n]
    assert head_params and all(p.dtype == torch.float32 and p.requires_grad for p in head_params)

    inputs = {k: v.cuda() for k, v in batch(arch).items()}
    out = model(**inputs)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert with_grad == trainable
    assert with_grad and all("lora_" in n or "modules_to_save" in n for n in with_grad)
    assert any("lora_B" in n for n in with_grad)
