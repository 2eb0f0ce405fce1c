"""LoRA's variants (DoRA, rsLoRA, every linear layer): what they wrap and how they scale (their counts on
bert-base: test_counts.py)."""

import math

import pytest
import torch
from tiny_models import as_if_trained, batch, tiny_model

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


@pytest.mark.parametrize("init", ["pissa", "olora"])
def test_pissa_and_olora_move_the_weights_main_part_into_the_adapter_and_save_a_plain_lora(init, tmp_path):
    import json

    base = tiny_model("llama")
    inputs = {k: v for k, v in batch("llama").items() if k != "labels"}
    before, weight = base.eval()(**inputs).logits, base.model.layers[0].self_attn.q_proj.weight.detach().clone()
    model = strategy_from_spec(f"lora:init={init},r=4").apply(base).eval()
    torch.testing.assert_close(model(**inputs).logits, before)  # unchanged at step 0...
    residual = model.base_model.model.model.layers[0].self_attn.q_proj.base_layer.weight
    assert not torch.allclose(residual, weight)  # ...because the frozen weight gave up what the adapter took
    peftkit.save(as_if_trained(model), tmp_path / "saved")
    config = json.loads((tmp_path / "saved" / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], config["init_lora_weights"]) == (8, 32, True)  # [B | -B0] [A ; A0]


def test_olora_refuses_conv1d_projections():
    with pytest.raises(peftkit.UnsupportedError, match="Conv1D"):
        strategy_from_spec("lora:init=olora").apply(tiny_model("gpt2"))


@pytest.mark.parametrize("spec, words", [
    ("lora:init=pissa,use_dora=true", "default or gaussian with use_dora"),
    ("qlora:init=olora", "default or gaussian for qlora"),
    ("lora:loraplus_lr_ratio=0.5", "1 or more"),
    ("lora:init=svd", "'init' must be"),
])
def test_bad_lora_options_say_what_is_wrong(spec, words):
    with pytest.raises(OptionError, match=words):
        strategy_from_spec(spec)


def test_loraplus_trains_b_at_its_ratio_in_a_loop_and_in_a_trainer(tmp_path):
    from transformers import Trainer, TrainingArguments

    strategy = strategy_from_spec("lora:loraplus_lr_ratio=16")
    model = strategy.apply(tiny_model("bert"))
    b_params = {id(p) for n, p in model.named_parameters() if ".lora_B." in n}

    def rates(groups):
        return {("B" if id(p) in b_params else "other", g["lr"]) for g in groups for p in g["params"]}

    assert rates(strategy.parameter_groups(model, 1e-3)) == {("B", 1.6e-2), ("other", 1e-3)}
    rows = [{k: v[0] for k, v in batch("bert").items()}] * 8
    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=1e-3, num_train_epochs=1, per_device_train_batch_size=4,
                             report_to=[], use_cpu=True, save_strategy="no", lr_scheduler_type="constant")
    trainer = Trainer(model=model, args=args, train_dataset=rows, callbacks=strategy.callbacks())
    trainer.train()
    assert rates(trainer.optimizer.param_groups) == {("B", 1.6e-2), ("other", 1e-3)}
