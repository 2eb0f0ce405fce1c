"""The strategy contract is the Strategy base class: a third-party strategy, registered through the entry-point
group, overrides every hook, and training, the estimate, save/load and merge honour each one."""

import json
import sys
import textwrap

import pytest
import torch
import transformers as T

import peftkit
from peftkit import demo, registry
from peftkit.errors import OptionError, PeftkitError
from peftkit.estimate import estimate_memory
from peftkit.training import RunConfig, train_and_evaluate

PLUGIN = textwrap.dedent('''
    import json

    from peftkit.options import StrategyOptions, option
    from peftkit.strategies.base import Strategy, VirtualTokens, freeze, unfreeze_head
    from peftkit.strategies.head import keep_in_eval_mode
    from peftkit import architectures as arch
    from dataclasses import dataclass

    CALLS = []


    @dataclass
    class HookedOptions(StrategyOptions):
        mergeable: bool = option(False, "whether merge may fold it")
        prompt: int = option(0, "virtual prompt tokens it claims")


    class Hooked(Strategy):
        name = "hooked"
        description = "a plugin that overrides every hook"
        Options = HookedOptions

        def apply(self, model):
            freeze(model)
            unfreeze_head(model)
            keep_in_eval_mode(arch.body(model))
            return self._mark(model)

        def from_pretrained_kwargs(self, config=None):
            CALLS.append("from_pretrained_kwargs")
            return {"attn_implementation": "eager"}

        def uses_feature_cache(self):
            CALLS.append("uses_feature_cache")
            return True

        def virtual_tokens(self):
            return VirtualTokens(prompt=self.options.prompt, prefix=3)

        def at_peak(self, model):
            for p in model.parameters():
                p.requires_grad_(True)
            return ["hooked: everything trains at the peak"]

        def cannot_merge(self):
            return None if self.options.mergeable else "hooked adapters never fold"

        def merged(self, model):
            CALLS.append("merged")
            with __import__("torch").no_grad():
                arch.unwrap(model).classifier.bias.add_(1.0)  # visible in the merged model's logits
            return arch.unwrap(model)

        def save_weights(self, model, directory):
            CALLS.append("save_weights")
            (directory / "hooked.json").write_text(json.dumps({"saved_by": "hooked"}))
            return super().save_weights(model, directory)

        def load_weights(self, model, directory, fmt):
            CALLS.append("load_weights:" + json.loads((directory / "hooked.json").read_text())["saved_by"])
            return super().load_weights(model, directory, fmt)
''')


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugin")
    (root / "hooked_plugin.py").write_text(PLUGIN)
    dist = root / "hooked_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hooked-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[peftkit.strategies]\nhooked = hooked_plugin:Hooked\n")
    sys.path.insert(0, str(root))
    registry._loaded = False
    try:
        assert "hooked" in peftkit.list_strategies()  # found through the entry point, not imported by the test
        yield sys.modules["hooked_plugin"]
    finally:
        peftkit.unregister_strategy("hooked")
        sys.path.remove(str(root))
        sys.modules.pop("hooked_plugin", None)
        registry._loaded = False


@pytest.fixture(scope="module")
def trained(plugin, tmp_path_factory):
    root = tmp_path_factory.mktemp("hooked-run")
    model, data = demo.write_tiny_model(root / "model"), demo.write_dataset(root / "data", n_train=48, n_eval=16)
    plugin.CALLS.clear()
    config = RunConfig(model=str(model), dataset=str(data), strategy="hooked:mergeable=true", epochs=1,
                       max_length=16, batch_size=8, learning_rate=1e-2)
    info = train_and_evaluate(config, root / "work")
    return info, root / "work" / "artifact", model, data


def test_training_loads_with_the_strategys_kwargs_and_serves_its_cache(plugin, trained):
    info, artifact, *_ = trained
    assert {"from_pretrained_kwargs", "uses_feature_cache", "save_weights"} <= set(plugin.CALLS)
    assert info["feature_cache"]["examples"] == info["num_train_samples"] == 48
    assert info["attention"] == "eager"  # what from_pretrained_kwargs asked the loader for
    assert json.loads((artifact / "hooked.json").read_text()) == {"saved_by": "hooked"}


def test_load_goes_through_the_strategys_load_weights(plugin, trained):
    _, artifact, *_ = trained
    plugin.CALLS.clear()
    model = peftkit.load(artifact)
    assert plugin.CALLS == ["load_weights:hooked"]
    assert model.peftkit_strategy.name == "hooked"


def test_merge_uses_the_strategys_merged_model(plugin, trained, tmp_path):
    _, artifact, *_ = trained
    loaded = peftkit.load(artifact)
    ids = torch.tensor([[2, 7, 8, 3]])
    with torch.no_grad():
        before = loaded(input_ids=ids).logits
    plugin.CALLS.clear()
    out = peftkit.merge(artifact, tmp_path / "merged")
    assert "merged" in plugin.CALLS
    plain = T.AutoModelForSequenceClassification.from_pretrained(out).eval()
    with torch.no_grad():
        assert torch.allclose(plain(input_ids=ids).logits, before + 1.0, atol=1e-5)


def test_merge_refuses_with_the_strategys_reason(plugin, trained, tmp_path):
    _, artifact, *_ = trained
    meta = json.loads((artifact / "peftkit.json").read_text())
    meta["strategy"]["options"]["mergeable"] = False
    (artifact / "peftkit.json").write_text(json.dumps(meta))
    try:
        with pytest.raises(PeftkitError, match="strategy 'hooked' cannot be merged: hooked adapters never fold"):
            peftkit.merge(artifact, tmp_path / "refused")
        assert not (tmp_path / "refused").exists()
    finally:
        meta["strategy"]["options"]["mergeable"] = True
        (artifact / "peftkit.json").write_text(json.dumps(meta))


def test_the_estimate_takes_the_peak_and_the_virtual_tokens(plugin):
    tiny = "builtin:tiny-bert"
    hooked = estimate_memory(tiny, "hooked:prompt=5", 2, 16, device="cpu", precision="fp32")
    full = estimate_memory(tiny, "full", 2, 16, device="cpu", precision="fp32")
    assert hooked.gradients == full.gradients  # at_peak unfroze everything
    assert "hooked: everything trains at the peak" in hooked.notes
    assert any("5 virtual tokens lengthen every sequence to 21" in n for n in hooked.notes)
    assert any("3 virtual keys/values per layer (24 keys per query)" in n for n in hooked.notes)


def test_prompt_tokens_count_against_the_positions(plugin):
    with pytest.raises(OptionError, match="seq_len 510 plus 5 prompt tokens exceeds the 512 positions"):
        estimate_memory("builtin:tiny-bert", "hooked:prompt=5", 2, 510, device="cpu", precision="fp32")
