"""compare.plan_comparison: flags beat the recipe, which beats the profile, which beats the defaults;
planned without loading, running or writing anything."""

from pathlib import Path

import pytest

from peftkit import demo
from peftkit.cli_compare import plan_command_line
from peftkit.compare import plan_comparison
from peftkit.errors import PeftkitError
from peftkit.recipes import load_recipe
from peftkit.registry import core_strategies, list_strategies, strategy_class

DATA = {"model": "m", "dataset": "d"}


def test_a_run_setting_flag_beats_recipe_beats_profile_beats_default():
    assert plan_comparison(DATA).base.max_length == 128  # the default
    assert plan_comparison({**DATA, "profile": "quick"}).base.max_length == 64
    assert plan_comparison({**DATA}, {"profile": "quick"}).base.max_length == 64  # the recipe's profile
    assert plan_comparison({**DATA, "profile": "quick"}, {"max_length": 100}).base.max_length == 100
    assert plan_comparison({**DATA, "profile": "quick", "max_length": 80}, {"max_length": 100}).base.max_length == 80
    quick = plan_comparison({**DATA, "profile": "quick"}, {"max_train_samples": 50}).base
    assert (quick.max_train_samples, quick.max_eval_samples) == (50, 500)  # the profile's other settings stay


def test_seeds_strategies_and_output_flag_beats_recipe_beats_default():
    recipe = {"seeds": [1, 2], "strategies": [("lora:r=4", {}), ("head", {})], "output": "runs/from-recipe"}
    default = plan_comparison(DATA)
    assert default.seeds == [0]
    assert [s.spec for s in default.strategies] == core_strategies()
    assert default.output == Path("peftkit-runs/m-d")
    from_recipe = plan_comparison(DATA, recipe)
    assert from_recipe.seeds == [1, 2]
    assert [s.spec for s in from_recipe.strategies] == ["lora:r=4", "head"]
    assert from_recipe.output == Path("runs/from-recipe")
    flagged = plan_comparison({**DATA, "seeds": "3,4", "specs": ("prompt",), "output": "elsewhere"}, recipe)
    assert flagged.seeds == [3, 4]
    assert [s.spec for s in flagged.strategies] == ["prompt"]
    assert flagged.output == Path("elsewhere")

    grouped = plan_comparison({**DATA, "specs": ("family:selective", "lora")}, recipe)
    assert [s.spec for s in grouped.strategies] == [n for n in list_strategies()
                                                     if strategy_class(n).family == "selective"] + ["lora"]
    assert [s.spec for s in plan_comparison(DATA, {"strategies": [("all", {"epochs": 1})]}).strategies] == \
        list_strategies()


def test_model_dataset_profile_and_search_flag_beats_recipe():
    recipe = {"model": "rm", "dataset": "rd", "profile": "quick", "search": "lr", "search_grid": [1, 2]}
    planned = plan_comparison({}, recipe)
    assert (planned.base.model, planned.base.dataset, planned.base.max_length) == ("rm", "rd", 64)
    assert planned.search_grid == (1.0, 2.0) and planned.output == Path("peftkit-runs/rm-rd")
    planned = plan_comparison({"model": "fm", "dataset": "fd", "profile": "full", "search_grid": "1,3"}, recipe)
    assert (planned.base.model, planned.base.dataset, planned.base.max_length) == ("fm", "fd", 128)
    assert planned.search_grid == (1.0, 3.0)
    assert any(n.startswith("profile quick: ") for n in plan_comparison(DATA, {"profile": "quick"}).notes)
    assert plan_comparison(DATA).notes == []


def test_a_strategys_own_settings_go_over_the_comparisons():
    """--hp beats a recipe's strategy entry, which beats the comparison's rate (flag or recipe)."""
    recipe = {"learning_rate": 0.02, "strategies": [("lora", {"learning_rate": 0.1}), ("head", {})]}
    planned = plan_comparison({**DATA, "hp": ("head.epochs=2",)}, recipe)
    rates = {c.strategy: (c.learning_rate, c.epochs) for c in planned.runs()}
    assert rates == {"lora": (0.1, None), "head": (0.02, 2.0)}
    planned = plan_comparison({**DATA, "learning_rate": 0.03, "hp": ("lora.learning_rate=0.5",)}, recipe)
    assert {c.strategy: c.learning_rate for c in planned.runs()} == {"lora": 0.5, "head": 0.03}


def test_hp_names_a_strategy_or_one_spec_of_it():
    """--hp NAME.KEY reaches every SPEC of that strategy; --hp SPEC.KEY (options and all) only that one, over it."""
    specs = ("lora", "lora:r=4,dropout=0.05", "head")
    hp = ("lora.epochs=2", "lora:r=4,dropout=0.05.learning_rate=0.02", "lora:r=4,dropout=0.05.epochs=5")
    planned = plan_comparison({**DATA, "specs": specs, "hp": hp})
    assert [(c.strategy, c.learning_rate, c.epochs) for c in planned.runs()] == [
        ("lora", None, 2.0), ("lora:r=4,dropout=0.05", 0.02, 5.0), ("head", None, None)]
    with pytest.raises(PeftkitError, match="--hp names strategy 'lora:r=8'"):
        plan_comparison({**DATA, "specs": specs, "hp": ("lora:r=8.epochs=1",)})


def test_the_demo_length_goes_over_recipe_and_profile_but_not_a_flag():
    assert plan_comparison({}).demo and plan_comparison({}).base.max_length == demo.MAX_LENGTH
    assert plan_comparison({"profile": "quick"}, {"max_length": 100}).base.max_length == demo.MAX_LENGTH
    assert plan_comparison({"max_length": 32}).base.max_length == 32
    assert plan_comparison({}).output == Path("peftkit-runs/demo")
    assert not plan_comparison(DATA).demo


def test_the_demo_keeps_each_strategys_declared_epochs_and_names_those_it_leaves_short():
    from dataclasses import replace

    from peftkit.compare import step_notes

    demo_plan = replace(plan_comparison({}), train_sizes={False: 400})  # 25 steps an epoch
    declared = [strategy_class(s.spec).defaults.epochs for s in demo_plan.strategies]
    assert [c.resolved().epochs for c in demo_plan.runs()] == declared  # head 20, the others 3
    short = [s.spec for s in demo_plan.strategies if strategy_class(s.spec).defaults.min_steps > 75]
    assert short and [n.split(":")[0] for n in step_notes(demo_plan)] == short
    given = replace(plan_comparison({"epochs": 5.0}), train_sizes={False: 400})
    assert {c.resolved().epochs for c in given.runs()} == {5.0}


def test_the_command_line_gives_only_what_was_typed(tmp_path, monkeypatch):
    """An option left at its default (--batch-size 16, --seeds 0) does not beat the recipe; typed, it does."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.yaml").write_text("model: m\ndataset: d\nbatch_size: 8\nseeds: [5]\nprecision: fp32\n"
                                     "gradient_checkpointing: true\noutput: out\n")
    planned = plan_command_line(["--recipe", "r.yaml"])
    assert (planned.base.batch_size, planned.seeds, planned.base.precision) == (8, [5], "fp32")
    assert planned.base.gradient_checkpointing is True and planned.output == Path("out")
    planned = plan_command_line(["--recipe", "r.yaml", "--batch-size", "16", "--seeds", "0", "--precision", "auto",
                                 "--gradient-checkpointing", "-o", "other"])
    assert (planned.base.batch_size, planned.seeds, planned.base.precision) == (16, [0], "auto")
    assert planned.output == Path("other")
    assert list(tmp_path.iterdir()) == [tmp_path / "r.yaml"]  # planning writes nothing
    assert load_recipe(tmp_path / "r.yaml")["batch_size"] == 8


def test_planning_refuses_bad_input_in_the_order_the_command_did():
    with pytest.raises(PeftkitError, match="--seeds must be comma-separated"):
        plan_comparison({"model": "m", "seeds": "x"})
    with pytest.raises(PeftkitError, match="give both --model and --dataset"):
        plan_comparison({"model": "m"})
    with pytest.raises(PeftkitError, match="--hp names strategy 'bitfit'"):
        plan_comparison({**DATA, "specs": ("lora",), "hp": ("bitfit.epochs=1",)})
    with pytest.raises(PeftkitError, match="--search-grid needs --search lr"):
        plan_comparison({**DATA, "search_grid": "1,2"})
    with pytest.raises(PeftkitError, match="max-length must be positive, got 0"):
        plan_comparison({**DATA, "max_length": 0})


def test_runs_follow_the_data_size_and_say_when_set_epochs_are_too_few():
    """Once the data's size is known (compare.with_train_sizes), the default epochs follow each strategy's
    steps rule; epochs the user set are kept, with one note where they give fewer steps than the rule asks."""
    from dataclasses import replace

    from peftkit.compare import step_notes

    lora = strategy_class("lora").defaults
    planned = plan_comparison({**DATA, "specs": ("lora", "head"), "hp": ("lora.epochs=1",)})
    small = replace(planned, train_sizes={False: 160})  # 10 steps an epoch
    assert [c.train_examples for c in small.runs()] == [160, 160]
    assert small.runs()[0].resolved().epochs == 1.0  # set by the user: kept
    (note,) = step_notes(small)
    assert note == (f"lora: 10 optimizer steps, its defaults assume at least {lora.min_steps}; results may "
                    "under-state it; see `--search lr,epochs`")
    default = replace(small, strategies=small.strategies[:1])
    default.strategies[0].overrides.clear()
    assert default.runs()[0].resolved().epochs == min(lora.max_epochs, max(lora.epochs, -(-lora.min_steps // 10)))
    tiny = replace(default, train_sizes={False: 16})  # one step an epoch: the rule's cap falls short
    (capped,) = step_notes(tiny)
    assert capped.startswith(f"lora: {lora.max_epochs:g} optimizer steps ({lora.max_epochs:g} epochs, its most)")
    assert step_notes(replace(default, train_sizes={False: 10 ** 6})) == []
    searched = plan_comparison({**DATA, "specs": ("lora",), "search": "lr,epochs"})
    sized = replace(searched, train_sizes={False: 1000, True: 900})
    assert {c.train_examples for p in sized.search_plans() for c in p.configs} == {900}  # the held-out search's
    assert {c.train_examples for c in sized.runs()} == {1000}


def test_a_recipe_searches_epochs_too(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.yaml").write_text("model: m\ndataset: d\nsearch: lr,epochs\nepochs_grid: [1, 2]\n")
    planned = plan_command_line(["--recipe", "r.yaml"])
    assert planned.search_grid == (1 / 3, 1.0, 3.0) and planned.epochs_grid == (1.0, 2.0)
    assert planned.shared()["epochs_search_grid"] == [1.0, 2.0]
    only_epochs = plan_command_line(["--recipe", "r.yaml", "--search", "epochs"])
    assert only_epochs.search_grid is None and "lr_search_grid" not in only_epochs.shared()
    assert plan_command_line(["--recipe", "r.yaml", "--epochs-grid", "0.5,1"]).epochs_grid == (0.5, 1.0)
