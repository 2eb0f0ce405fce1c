"""Every shipped recipe is valid (parsed, every key known, every strategy SPEC valid), offline."""

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import peftkit
from peftkit.compare import StrategyRun
from peftkit.errors import PeftkitError
from peftkit.recipes import load_recipe
from peftkit.training import RunConfig

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))


def test_recipes_are_shipped():
    names = {p.name for p in RECIPES}
    assert {"distilbert-imdb.yaml", "roberta-base-sst2-lora-paper.yaml", "minilm-sst2.yaml", "minilm-conll2003.yaml"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_shipped_recipe_is_valid(path):
    first_line = path.read_text().splitlines()[0]
    assert first_line == f"# peftkit compare --recipe recipes/{path.name}"
    recipe = load_recipe(path)
    assert recipe["model"] and recipe["dataset"] and recipe["strategies"]
    for spec, overrides in recipe["strategies"]:
        StrategyRun(spec, dict(overrides))
    shared = {k: v for k, v in recipe.items() if k not in ("strategies", "seeds", "output", "description")}
    for spec, overrides in recipe["strategies"]:
        RunConfig(strategy=spec, **{**shared, **overrides}).resolved()


def test_tutorial_recipe_matches_the_tutorial():
    recipe = load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "distilbert-imdb.yaml")
    assert (recipe["model"], recipe["dataset"], recipe["max_length"], recipe["epochs"], recipe["batch_size"]) == \
        ("distilbert-base-uncased", "imdb", 256, 2, 16)
    assert ("full", {"learning_rate": 2e-5}) in recipe["strategies"]


@pytest.mark.parametrize("text, words", [
    ("model: [unclosed", ["not valid YAML"]),
    ("- just\n- a list\n", ["mapping"]),
    ("model: m\ndataset: d\nlearning_rat: 0.1\n", ["unknown key 'learning_rat'", "learning_rate"]),
    ("model: m\nbatch_size: sixteen\n", ["'batch_size' must be int"]),
    ("model: m\nepochs: true\n", ["'epochs'"]),
    ("model: m\nseeds: [0, x]\n", ["seeds"]),
    ("model: m\nstrategies: [{lr: 1}]\n", ["spec"]),
    ("model: m\nstrategies: [{spec: lora, rank: 4}]\n", ["unknown key 'rank'"]),
    ("model: !!python/object/apply:os.system ['echo hacked']\n", ["YAML tag !!python/object/apply:os.system", "line 1",
                                                                  "remove the tag"]),
    ("model: m\noutput: /etc/peftkit\n", ["output '/etc/peftkit' must be a path inside the working directory",
                                          "--output"]),
    ("model: m\noutput: runs/../../elsewhere\n", ["must be a path inside the working directory"]),
    ("model: m\noutput: .\n", ["must be a path inside the working directory"]),
    ("model: m\nlearning_rate: .inf\n", ["'learning_rate' must be a finite number, got inf"]),
    ("model: m\nepochs: .nan\n", ["'epochs' must be a finite number, got nan"]),
    ("model: m\nwarmup: -.inf\n", ["'warmup' must be a finite number"]),
    ("model: m\nstrategies: [{spec: lora, learning_rate: .inf}]\n", ["strategies[0]", "'learning_rate' must be a finite"]),
    ("model: m\nsearch_grid: [1, .inf]\n", ["'search_grid' must be a finite number"]),
    ("model: m\ndrop_invalid_rows: maybe\n", ["'drop_invalid_rows' must be true or false"]),
    ("model: m\nprofile: fast\n", ["'profile' must be one of full, quick"]),
    ("model: m\nsearch: batch_size\n", ["'search' must be one of lr"]),
    ("model: m\nsearch_grid: [1, x]\n", ["search_grid"]),
    ("model: m\nsearch: lr,steps\n", ["'search' must be one of lr, epochs, lr,epochs"]),
    ("model: m\nepochs_grid: [1, x]\n", ["'epochs_grid' must be a list of positive numbers"]),
    ("model: m\nepochs_grid: 2\n", ["'epochs_grid' must be list of factors of each strategy's default epochs"]),
])
def test_bad_recipes_are_clear_errors(tmp_path, text, words):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(PeftkitError) as e:
        load_recipe(path)
    for word in words:
        assert word in str(e.value)


def test_bad_spec_in_recipe_is_caught_before_running(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("model: m\ndataset: d\nstrategies: ['lora:r=0']\n")
    spec, overrides = load_recipe(path)["strategies"][0]
    with pytest.raises(peftkit.OptionError):
        StrategyRun(spec, overrides)


_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-3, 99) | st.floats(allow_nan=True) | st.text(max_size=8),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                       max_leaves=6)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=80),
                 st.dictionaries(st.sampled_from(["model", "dataset", "seeds", "epochs", "strategies", "batch_size",
                                                  "max_length", "precision", "bogus"]), _VALUES, max_size=5)
                 .map(lambda d: yaml.safe_dump(d))))
def test_any_recipe_text_loads_or_fails_clearly(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("r") / "recipe.yaml"
    path.write_text(text)
    try:
        recipe = load_recipe(path)
    except PeftkitError as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert isinstance(recipe, dict)


def test_spec_text_cannot_steer_file_names():
    """Run files are named from the SPEC: nothing in it can climb out of the output directory."""
    from peftkit.training import RunConfig

    config = RunConfig(model="m", dataset="d", strategy="prompt:init=text,init_text=../../../etc/passwd,tokenizer=/x")
    run_id = config.run_id()
    assert "/" not in run_id and ".." not in run_id and run_id == run_id.strip(".")


def _recipe(directory: Path, text: str) -> Path:
    path = directory / "r.yaml"
    path.write_text(text)
    return path


def test_recipe_output_tilde_is_expanded_then_checked(tmp_path, monkeypatch):
    home, work = tmp_path / "home", tmp_path / "home" / "work"
    work.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    with pytest.raises(PeftkitError) as e:  # ~/x is $HOME/x, outside the working directory: never a folder named ~
        load_recipe(_recipe(tmp_path, "model: m\noutput: ~/x\n"))
    assert f"output '~/x' (that is {home.resolve() / 'x'}) must be a path inside the working directory" in str(e.value)
    assert not (work / "~").exists()
    monkeypatch.chdir(home)  # the same recipe run from $HOME writes to $HOME/x, and says so
    assert load_recipe(_recipe(tmp_path, "model: m\noutput: ~/x\n"))["output"] == str(home / "x")


def test_recipe_output_through_a_symlink_is_resolved(tmp_path, monkeypatch):
    work, outside = tmp_path / "work", tmp_path / "outside"
    (work / "inner").mkdir(parents=True)
    outside.mkdir()
    (work / "escape").symlink_to(outside, target_is_directory=True)
    (work / "alias").symlink_to(work / "inner", target_is_directory=True)
    monkeypatch.chdir(work)
    with pytest.raises(PeftkitError) as e:
        load_recipe(_recipe(tmp_path, "model: m\noutput: escape/runs\n"))
    assert f"(that is {outside.resolve() / 'runs'})" in str(e.value) and "--output" in str(e.value)
    assert load_recipe(_recipe(tmp_path, "model: m\noutput: alias/runs\n"))["output"] == "alias/runs"
    assert load_recipe(_recipe(tmp_path, "model: m\noutput: runs/mine\n"))["output"] == "runs/mine"


def test_recipe_booleans(tmp_path):
    recipe = load_recipe(_recipe(tmp_path, "model: m\ndrop_invalid_rows: true\ngradient_checkpointing: false\n"))
    assert recipe["drop_invalid_rows"] is True and recipe["gradient_checkpointing"] is False
    assert RunConfig(model="m", dataset="d", strategy="lora", drop_invalid_rows=True).drop_invalid_rows
