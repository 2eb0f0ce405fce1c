"""``peft``: any peft config as a strategy (by name with its fields, or from an adapter_config.json): it
trains, counts, saves as a plain peft adapter, loads and merges like the wrapped strategies, and bad input
is one line and exit 2 before anything is written."""

import json

import peft
import pytest
import torch
from tiny_models import as_if_trained, batch, tiny_model
from transformers import AutoModelForSequenceClassification

import peftkit
from peftkit import demo
from peftkit.cli import main
from peftkit.errors import OptionError
from peftkit.registry import strategy_from_spec


def _inputs():
    return {k: v for k, v in batch("bert").items() if k != "labels"}


def _trained(spec, base_dir):
    tiny_model("bert").save_pretrained(base_dir)
    return as_if_trained(strategy_from_spec(spec).apply(AutoModelForSequenceClassification.from_pretrained(base_dir)))


def test_a_method_by_name_with_its_fields_counts_as_peft_does():
    model = strategy_from_spec("peft:method=LOHA,r=4,alpha=8").apply(tiny_model("bert"))
    assert isinstance(model.peft_config["default"], peft.LoHaConfig) and model.peft_config["default"].r == 4
    counts = peftkit.count_parameters(model)
    assert counts.trainable == model.get_nb_trainable_parameters()[0]
    # query and value of 2 layers (32 -> 32), two pairs at rank 4; the head (32 x 3 labels + 3) once
    assert counts.trainable - counts.head_trainable == 2 * 2 * 2 * 4 * (32 + 32) and counts.head_trainable == 99


def test_a_config_file_saves_loads_and_merges_like_a_wrapped_strategy(tmp_path):
    peft.LoKrConfig(r=4, target_modules=["query", "value"]).save_pretrained(tmp_path / "cfg")
    spec = f"peft:config={tmp_path / 'cfg' / 'adapter_config.json'}"
    model = _trained(spec, tmp_path / "base")
    expected = model(**_inputs()).logits
    peftkit.save(model, tmp_path / "saved", base_model=str(tmp_path / "base"))
    plain = peft.PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained(tmp_path / "base"),
                                           tmp_path / "saved").eval()
    torch.testing.assert_close(plain(**_inputs()).logits, expected)
    torch.testing.assert_close(peftkit.load(tmp_path / "saved")(**_inputs()).logits, expected)
    peftkit.merge(tmp_path / "saved", tmp_path / "merged")
    merged = AutoModelForSequenceClassification.from_pretrained(tmp_path / "merged").eval()
    torch.testing.assert_close(merged(**_inputs()).logits, expected, rtol=1e-4, atol=1e-5)


def test_prompt_learning_does_not_merge_and_refuses_token_labels():
    from peftkit.tasks import TASKS

    prompt = strategy_from_spec("peft:method=PROMPT_TUNING,num_virtual_tokens=4")
    assert "virtual tokens" in prompt.cannot_merge()
    assert "align them" in prompt.refuses_task(TASKS["token-classification"])
    assert prompt.refuses_task(TASKS["sequence-classification"]) is None


@pytest.mark.parametrize("spec, words", [
    ("peft:method=NOPE", "unknown peft method 'NOPE'; peft"),
    ("peft:method=LOHA,rr=3", "LoHaConfig has no field 'rr'"),
    ("peft:method=LOHA,r=abc", "LoHaConfig: invalid literal"),
    ("peft:method=ADALORA,total_step=100", "use -s adalora"),  # its schedule would never run
])
def test_bad_specs_say_what_is_wrong(spec, words):
    with pytest.raises(OptionError, match=words):
        strategy_from_spec(spec)


@pytest.fixture
def data(tmp_path):
    return str(demo.write_dataset(tmp_path / "data", n_train=16, n_eval=8))


@pytest.mark.parametrize("config, words", [
    ("not json {", "is not JSON"),
    (json.dumps({"r": 4}), "has no 'peft_type'"),
    (json.dumps({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 4}), "for task type CAUSAL_LM"),
])
def test_compare_refuses_a_bad_config_in_one_line_before_writing(config, words, data, tmp_path, capsys):
    (tmp_path / "adapter_config.json").write_text(config)
    base = demo.write_tiny_model(tmp_path / "base")
    capsys.readouterr()  # the model's own progress bars
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "-s", f"peft:config={tmp_path / 'adapter_config.json'}", "--model", str(base),
              "--dataset", data, "--output", str(tmp_path / "out")])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert exit_info.value.code == 2 and len(err) == 1 and words in err[0], err
    assert not (tmp_path / "out").exists()
