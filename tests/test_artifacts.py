"""save / load / merge: logits survive the round trip for every strategy."""

import pytest
import torch
from tiny_models import as_if_trained, batch, tiny_model
from transformers import AutoModelForSequenceClassification

import peftkit

pytestmark = pytest.mark.canary
from peftkit.errors import PeftkitError
from peftkit.registry import strategy_from_spec

ARCHS = ["bert", "distilbert", "llama"]  # encoder, an encoder with peftkit's own prefix, a decoder


LORA_VARIANTS = ["lora", "lora:use_dora=true", "lora:use_rslora=true", "lora:target_modules=all-linear",
                 "lora:init=gaussian", "lora:init=pissa", "lora:init=olora", "lora:init=pissa,use_rslora=true"]


def trained(spec: str, arch: str, base_dir):
    """A base model saved to base_dir, with the strategy (a SPEC) applied and its trainable weights 'trained'."""
    tiny_model(arch).save_pretrained(base_dir)
    model = AutoModelForSequenceClassification.from_pretrained(base_dir)
    try:
        model = strategy_from_spec(spec).apply(model)
    except peftkit.UnsupportedError:
        pytest.skip(f"{spec} does not apply to {arch}")
    return as_if_trained(model)


def inputs(arch):
    return {k: v for k, v in batch(arch).items() if k != "labels"}


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("strategy", peftkit.list_strategies())
def test_round_trip(strategy, arch, tmp_path):
    model = trained(strategy, arch, tmp_path / "base")
    expected = model(**inputs(arch)).logits
    peftkit.save(model, tmp_path / "saved", base_model=str(tmp_path / "base"))
    loaded = peftkit.load(tmp_path / "saved")
    torch.testing.assert_close(loaded(**inputs(arch)).logits, expected)
    saved_bytes = sum(f.stat().st_size for f in (tmp_path / "saved").iterdir())
    base_bytes = sum(f.stat().st_size for f in (tmp_path / "base").iterdir())
    # vera also saves its shared random matrices (r=256 x the widest projection): more than a tiny model's half
    if strategy not in ("full", "gradual", "vera"):
        assert saved_bytes < base_bytes / 2, "only what the strategy trained is saved"


@pytest.mark.parametrize("spec", LORA_VARIANTS)
def test_lora_directory_is_a_standard_peft_adapter(spec, tmp_path):
    from peft import PeftModel

    model = trained(spec, "bert", tmp_path / "base")
    expected = model(**inputs("bert")).logits
    peftkit.save(model, tmp_path / "saved", base_model=str(tmp_path / "base"))
    assert (tmp_path / "saved" / "adapter_config.json").exists()
    plain = PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained(tmp_path / "base"),
                                      tmp_path / "saved").eval()
    torch.testing.assert_close(plain(**inputs("bert")).logits, expected)


@pytest.mark.parametrize("strategy", [*LORA_VARIANTS, "ia3", "bitfit", "head", "gradual",
                                      "loha", "lokr", "oft", "boft", "hra", "vera", "fourierft", "ln_tuning",
                                      "adalora"])
def test_merge_gives_a_plain_transformers_model(strategy, tmp_path):
    model = trained(strategy, "bert", tmp_path / "base")
    expected = model(**inputs("bert")).logits
    peftkit.save(model, tmp_path / "saved", base_model=str(tmp_path / "base"))
    peftkit.merge(tmp_path / "saved", tmp_path / "merged")
    merged = AutoModelForSequenceClassification.from_pretrained(tmp_path / "merged").eval()
    assert not any(n.split(".")[-2].startswith(("lora", "ia3", "hada", "lokr", "oft", "boft", "hra", "vera", "fourierft"))
                   for n, _ in merged.named_parameters() if n.count(".") > 1)
    torch.testing.assert_close(merged(**inputs("bert")).logits, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("strategy", ["adapter", "prefix", "prompt", "ptuning"])
def test_merge_refuses_what_cannot_merge(strategy, tmp_path):
    model = trained(strategy, "bert", tmp_path / "base")
    peftkit.save(model, tmp_path / "saved", base_model=str(tmp_path / "base"))
    with pytest.raises(PeftkitError, match=f"'{strategy}' cannot be merged"):
        peftkit.merge(tmp_path / "saved", tmp_path / "merged")


def test_merge_refuses_a_non_empty_output_and_leaves_nothing_on_failure(tmp_path, monkeypatch):
    model = trained("lora", "bert", tmp_path / "base")
    peftkit.save(model, tmp_path / "saved", base_model=str(tmp_path / "base"))
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    with pytest.raises(PeftkitError, match="not empty"):
        peftkit.merge(tmp_path / "saved", tmp_path / "taken")
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["keep.txt"]

    def disk_full(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    from transformers import PreTrainedModel

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", disk_full)
    with pytest.raises(OSError):
        peftkit.merge(tmp_path / "saved", tmp_path / "merged")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base", "saved", "taken"]


def test_load_refuses_a_foreign_directory(tmp_path):
    with pytest.raises(PeftkitError, match="peftkit.json"):
        peftkit.load(tmp_path)


@pytest.mark.parametrize("route", ["native", "peft"])
def test_a_prefix_artifact_records_its_route_and_loads_through_it(route, tmp_path):
    """An artifact made by either route loads through that route, whatever `auto` would pick now."""
    from peftkit.strategies.prefix import peft_refusal, route_of

    if route == "peft" and peft_refusal(tiny_model("bert")):
        pytest.skip("the installed transformers offers peft no past_key_values route")
    tiny_model("bert").save_pretrained(tmp_path / "base")
    model = peftkit.get_strategy("prefix", route=route).apply(
        AutoModelForSequenceClassification.from_pretrained(tmp_path / "base"))
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    model.eval()
    expected = model(**inputs("bert")).logits
    peftkit.save(model, tmp_path / "saved", base_model=str(tmp_path / "base"))
    meta = peftkit.artifacts.read_metadata(tmp_path / "saved")
    assert meta["strategy"]["options"]["route"] == route
    assert meta["format"] == ("peft" if route == "peft" else "safetensors")
    loaded = peftkit.load(tmp_path / "saved")
    assert route_of(loaded) == route
    torch.testing.assert_close(loaded(**inputs("bert")).logits, expected)


def test_a_peft_prefix_artifact_is_refused_clearly_where_peft_cannot_run_it(tmp_path, monkeypatch):
    """A prefix artifact made by peft's route, loaded where the model no longer takes past_key_values:
    refused with the versions and the way out, not a crash at the first forward."""
    import peftkit.strategies.prefix as prefix

    if prefix.peft_refusal(tiny_model("bert")):
        pytest.skip("the installed transformers cannot make a peft prefix artifact")
    model = trained("prefix", "bert", tmp_path / "base")
    peftkit.save(model, tmp_path / "saved", base_model=str(tmp_path / "base"))
    monkeypatch.setattr(prefix, "peft_refusal", lambda model: "BertModel.forward takes no past_key_values")
    with pytest.raises(peftkit.UnsupportedError, match=r"peft's past_key_values route.*constraints.txt.*"
                                                       r"\(with transformers \S+, peft \S+\)"):
        peftkit.load(tmp_path / "saved")
