"""LoRA's variants (DoRA, rsLoRA, every linear layer): what they wrap and how they scale (their counts on
bert-base: test_counts.py)."""

import math

import pytest
from tiny_models import batch, tiny_model

import peftkit
from peftkit.errors import OptionError
from peftkit.registry import strategy_from_spec

@pytest.mark.parametrize("arch", ["bert", "gpt2", "llama"])
def test_all_linear_wraps_every_block_projection_and_never_the_head(arch):
    model = strategy_from_spec("lora:target_modules=all-linear").apply(tiny_model(arch))
    wrapped = [name for name, m in model.named_modules() if hasattr(m, "lora_A")]
    per_block = {"bert": 6, "gpt2": 4, "llama": 7}[arch]  # GPT-2's query, key and value are one c_attn
    assert len(wrapped) == per_block * model.config.num_hidden_layers
    assert not any(".classifier" in n or ".score" in n for n in wrapped)


def test_rslora_scales_by_the_square_root_of_the_rank():
    plain, rs = (strategy_from_spec(spec).apply(tiny_model("bert")) for spec in ("lora:r=4", "lora:r=4,use_rslora=true"))
    layer = lambda m: next(x for x in m.modules() if hasattr(x, "lora_A"))  # noqa: E731
    assert layer(plain).scaling["default"] == 16 / 4 and layer(rs).scaling["default"] == 16 / math.sqrt(4)


def test_dora_trains_on_every_architecture_family():
    for arch in ("bert", "gpt2", "llama"):
        model = strategy_from_spec("lora:use_dora=true").apply(tiny_model(arch))
        model(**batch(arch)).loss.backward()
        magnitudes = [p for n, p in model.named_parameters() if "lora_magnitude_vector" in n]
        assert magnitudes and all(p.grad is not None for p in magnitudes)


def test_all_linear_is_given_alone():
    with pytest.raises(OptionError, match="target_modules' must be all-linear alone"):
        peftkit.get_strategy("lora", target_modules=("all-linear", "query"))
