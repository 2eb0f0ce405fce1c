"""A damaged artifact (a truncated safetensors file, a peftkit.json of another shape, a missing file) is one
line and exit status 2 from every command that reads one, and one PeftkitError from peftkit.load."""

import json
import shutil
import subprocess
import sys

import pytest
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import peftkit
from peftkit import demo
from peftkit.errors import PeftkitError

ADAPTER = "adapter_model.safetensors"  # lora: a peft adapter directory
WEIGHTS = "peftkit_weights.safetensors"  # head: peftkit's own format


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _edit_meta(change):
    def edit(artifact):
        path = artifact / "peftkit.json"
        path.write_text(json.dumps(change(json.loads(path.read_text()))))
    return edit


def _strategy(**changes):
    return _edit_meta(lambda m: {**m, "strategy": {**m["strategy"], **changes}})


# kind -> (artifact, how to damage it, words the one error line must contain)
DAMAGE = {
    "truncated adapter": ("lora", lambda a: _truncate(a / ADAPTER), [ADAPTER, "truncated"]),
    "truncated weights": ("head", lambda a: _truncate(a / WEIGHTS), [WEIGHTS, "truncated"]),
    "garbage weights": ("head", lambda a: (a / WEIGHTS).write_bytes(b"\x00\x01 not safetensors"), [WEIGHTS, "corrupt"]),
    "missing adapter": ("lora", lambda a: (a / ADAPTER).unlink(), [ADAPTER, "incomplete"]),
    "missing weights": ("head", lambda a: (a / WEIGHTS).unlink(), [WEIGHTS, "incomplete"]),
    "adapter config a list": ("lora", lambda a: (a / "adapter_config.json").write_text("[1]"),
                              ["adapter_config.json", "array"]),
    "meta a list": ("head", lambda a: (a / "peftkit.json").write_text("[1, 2]"), ["peftkit.json", "array"]),
    "meta not json": ("lora", lambda a: (a / "peftkit.json").write_text('{"strategy": '),
                      ["peftkit.json", "not valid JSON"]),
    "meta not utf-8": ("head", lambda a: (a / "peftkit.json").write_bytes(b'{"base_model": "caf\xe9"}'),
                       ["peftkit.json", "UTF-8"]),
    "no strategy": ("lora", _edit_meta(lambda m: {k: v for k, v in m.items() if k != "strategy"}),
                    ["peftkit.json", "'strategy' is missing"]),
    "strategy a string": ("head", _edit_meta(lambda m: {**m, "strategy": "head"}), ["peftkit.json", "'strategy'"]),
    "unknown strategy": ("lora", _strategy(name="nope"), ["peftkit.json", "'nope'"]),
    "options a list": ("head", _strategy(options=[1]), ["peftkit.json", "'options'"]),
    "option of the wrong type": ("lora", _strategy(options={"r": "eight"}), ["peftkit.json", "'r'"]),
    "labels not a list": ("head", _edit_meta(lambda m: {**m, "label_names": 3}), ["peftkit.json", "label_names"]),
    "base model not a string": ("lora", _edit_meta(lambda m: {**m, "base_model": 5}), ["peftkit.json", "base_model"]),
}
# what the CLI walk runs (a fresh process each, ~5 s): one of each class of damage; peftkit.load and merge
# take every kind above in-process
WALKED = ["truncated adapter", "truncated weights", "missing weights", "adapter config a list", "meta a list",
          "strategy a string", "option of the wrong type"]


@pytest.fixture(scope="module")
def sound(tmp_path_factory):
    """A tiny base model with its tokenizer, a lora and a head artifact of it, and a dataset."""
    root = tmp_path_factory.mktemp("sound")
    base = demo.write_tiny_model(root / "base")
    tokenizer = AutoTokenizer.from_pretrained(base)
    for name in ("lora", "head"):
        model = peftkit.get_strategy(name).apply(AutoModelForSequenceClassification.from_pretrained(base, num_labels=2))
        peftkit.save(model, root / name, base_model=str(base), label_names=["0", "1"], tokenizer=tokenizer)
    demo.write_dataset(root / "data", n_train=16, n_eval=8)
    return root


def damaged(sound, kind, tmp_path):
    source, damage, words = DAMAGE[kind]
    artifact = tmp_path / f"{source}-damaged"
    shutil.copytree(sound / source, artifact)
    damage(artifact)
    return artifact, words


def commands(artifact, sound, tmp_path):
    return {
        "predict": ["predict", str(artifact), "a fine film"],
        "evaluate": ["evaluate", str(artifact), "--dataset", str(sound / "data"), "--output", str(tmp_path / "eval")],
        "merge": ["merge", str(artifact), str(tmp_path / "merged")],
    }


@pytest.mark.parametrize("kind", DAMAGE)
def test_load_refuses_each_damage_in_one_line(sound, kind, tmp_path):
    artifact, words = damaged(sound, kind, tmp_path)
    with pytest.raises(PeftkitError) as caught:
        peftkit.load(artifact)
    message = str(caught.value)
    assert "\n" not in message and all(w in message for w in words), message


@pytest.mark.parametrize("kind", DAMAGE)
def test_merge_refuses_each_damage_and_writes_nothing(sound, kind, tmp_path):
    artifact, words = damaged(sound, kind, tmp_path)
    with pytest.raises(PeftkitError, match=words[0].replace(".", r"\.")):
        peftkit.merge(artifact, tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


@pytest.mark.parametrize("kind", WALKED)
@pytest.mark.parametrize("command", ["predict", "evaluate", "merge"])
def test_every_command_answers_a_damaged_artifact_in_one_line(sound, command, kind, tmp_path):
    artifact, words = damaged(sound, kind, tmp_path)
    args = commands(artifact, sound, tmp_path)[command]
    p = subprocess.run([sys.executable, "-m", "peftkit", *args], capture_output=True, text=True, timeout=300)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1, p.stderr[-3000:]
    assert lines[0].startswith("peftkit: error: ") and all(w in lines[0] for w in words), lines[0]
    assert not (tmp_path / "merged").exists() and not (tmp_path / "eval").exists()


def test_the_sound_artifacts_still_work(sound, tmp_path):
    """The control: what the walk damages loads, predicts and merges when whole."""
    for name in ("lora", "head"):
        peftkit.load(sound / name)
    peftkit.merge(sound / "lora", tmp_path / "merged")
    assert (tmp_path / "merged" / "model.safetensors").exists()


def test_weights_of_another_shape_are_one_line(sound, tmp_path):
    """An adapter whose config no longer fits its weights (r edited): the torch error as one line."""
    artifact = tmp_path / "lora"
    shutil.copytree(sound / "lora", artifact)
    config = json.loads((artifact / "adapter_config.json").read_text())
    (artifact / "adapter_config.json").write_text(json.dumps({**config, "r": config["r"] // 2}))
    with pytest.raises(PeftkitError, match=r"size mismatch.*base model is the one it was trained from"):
        peftkit.load(artifact)


def test_a_truncated_base_model_is_one_line(sound, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(sound / "base", base)
    _truncate(base / "model.safetensors")
    artifact = tmp_path / "head"
    shutil.copytree(sound / "head", artifact)
    _edit_meta(lambda m: {**m, "base_model": str(base)})(artifact)
    with pytest.raises(PeftkitError, match=r"model\.safetensors is not a complete safetensors file.*save_pretrained"):
        peftkit.load(artifact)


def test_a_corrupt_tokenizer_is_one_line(sound, tmp_path):
    from peftkit.inference import load_for_inference

    artifact = tmp_path / "head"
    shutil.copytree(sound / "head", artifact)
    (artifact / "tokenizer.json").write_text((artifact / "tokenizer.json").read_text()[:300])
    with pytest.raises(PeftkitError, match="cannot load the tokenizer of .*copy the artifact again"):
        load_for_inference(artifact)
