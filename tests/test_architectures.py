"""architectures.py holds all model-family knowledge: each ArchSpec matches its family's real modules, and no
other module names a family or probes a strategy."""

import ast
import re
from pathlib import Path

import pytest
import transformers as T
from tiny_models import CONFIGS, tiny_model

from peftkit import architectures as arch

PACKAGE = Path(__file__).resolve().parents[1] / "peftkit"
SPECS = {mt: arch.arch_for_config(CONFIGS[mt]()) for mt in CONFIGS}


def test_every_family_has_a_tiny_config_and_back():
    assert sorted(CONFIGS) == arch.supported_model_types()


@pytest.mark.parametrize("model_type", sorted(CONFIGS))
@pytest.mark.parametrize("role", ["query", "key", "value", "attn_out", "ffn_in", "ffn_out"])
def test_every_role_is_a_projection_in_every_block(model_type, role):
    model = tiny_model(model_type)
    found = arch.find_modules(model, role)
    per_block = 2 if role == "ffn_in" and SPECS[model_type].memory.block == "pre-rms" else 1  # gate and up
    assert len(found) == per_block * len(arch.blocks(model))
    assert all(arch.is_projection(m) for _, m in found)
    assert all(arch.is_conv1d(m) == SPECS[model_type].conv1d for _, m in found)


@pytest.mark.parametrize("model_type", sorted(CONFIGS))
def test_head_top_and_body_are_the_models_modules(model_type):
    model, spec = tiny_model(model_type), SPECS[model_type]
    children = dict(model.named_children())
    assert set(spec.head) <= set(children) and spec.body in children
    for top in spec.top:
        model.get_submodule(top)
    names = [n for n, _ in model.named_modules()]
    for regex in (spec.memory.pooler, spec.memory.embedding_projection, spec.memory.final_norm):
        if regex:
            assert any(re.fullmatch(regex, n) for n in names), regex
    block = arch.blocks(model)[0]
    for norm in filter(None, spec.memory.norms):
        block.get_submodule(norm)


@pytest.mark.parametrize("model_type", sorted(CONFIGS))
def test_each_tasks_head_is_every_trained_module_of_its_model_besides_the_body(model_type):
    from peftkit.tasks import TASKS

    spec = SPECS[model_type]
    for name, task in TASKS.items():
        model = tiny_model(model_type, task=name)
        with_weights = {n for n, m in model.named_children() if any(True for _ in m.parameters())}
        assert set(task.head(model)) == with_weights - {spec.body}, name
        assert set(task.head(model)) <= set(spec.heads)  # what tells head parameters apart in any of its models
        other = set(spec.heads) - set(task.head(model))
        assert not other & {n for n, _ in model.named_children()}  # another task's head name is not a module here


@pytest.mark.parametrize("model_type", sorted(CONFIGS))
def test_attention_kind_and_shared_blocks_match_the_model(model_type):
    model, spec = tiny_model(model_type), SPECS[model_type]
    attention = arch.find_modules(model, "key")[0][0].rsplit(".", 1)[0]
    own = hasattr(model.get_submodule(attention), "disentangled_attention_bias")
    assert own == (spec.attention == "disentangled")
    runs = arch.block_sequence(model)
    assert len(runs) == model.config.num_hidden_layers if spec.shared_blocks else runs == arch.blocks(model)


def test_position_limits():
    limits = {mt: arch.position_limit(CONFIGS[mt]()) for mt in CONFIGS}
    assert limits == {"bert": 64, "roberta": 62, "distilbert": 64, "albert": 64, "electra": 64, "deberta-v2": 64,
                      "gpt2": 64, "llama": None, "qwen2": None}
    relative = T.DebertaV2Config(position_biased_input=False, max_position_embeddings=64)
    assert arch.position_limit(relative) is None


def test_fan_in_fan_out_is_the_conv1d_layout():
    assert [s.name for s in arch.ARCHITECTURES if s.fan_in_fan_out] == ["GPT-2"]


def _core_modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name not in ("architectures.py", "tiny.py"):  # tiny.py: the tests' (and env's) tiny configs
            yield path, ast.parse(path.read_text())


FAMILY_WORDS = {s.name for s in arch.ARCHITECTURES} | {mt for s in arch.ARCHITECTURES for mt in s.model_types}


def _strings(node) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [s for e in node.elts for s in _strings(e)]
    return []


def test_no_module_outside_architectures_checks_a_family_or_a_name():
    leaks = []
    for path, tree in _core_modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare):
                continue
            sides = [node.left, *node.comparators]
            words = [s for side in sides for s in _strings(side)]
            names = any(isinstance(side, ast.Attribute) and side.attr == "name" for side in sides)
            if set(words) & FAMILY_WORDS or (names and words):
                leaks.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert leaks == []


def test_core_modules_never_probe_a_strategy_for_attributes():
    probes = []
    for path, tree in _core_modules():
        if "strategies" in path.parts:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr") \
                    and node.args and isinstance(node.args[0], ast.Name) and "strategy" in node.args[0].id:
                probes.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert probes == []
