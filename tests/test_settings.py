"""settings.py: each run setting declared once; the command line, recipes, comparisons and the one
precision resolver all come from it, and what users type or have stored means what it meant."""

import dataclasses

import pytest

from peftkit import settings
from peftkit.compare import HYPERPARAMETERS, SHARED_KEYS, Comparison, StrategyRun
from peftkit.errors import OptionError
from peftkit.recipes import SCHEMA, STRATEGY_KEYS
from peftkit.settings import PRECISIONS, RunConfig, resolve_precision

RUN_OPTIONS = ["--epochs", "--learning-rate", "--warmup", "--weight-decay", "--batch-size", "--max-length",
               "--max-train-samples", "--max-eval-samples", "--text-column", "--text-pair-column", "--label-column",
               "--eval-split", "--precision", "--trust-remote-code", "--gradient-checkpointing",
               "--gradient-accumulation-steps", "--drop-invalid-rows", "--task",  # --task: added with the task modules
               "--subword-labels"]  # with token classification


def test_training_still_exports_run_config():
    from peftkit import training

    assert training.RunConfig is RunConfig and training.PRECISIONS == PRECISIONS == ("auto", "fp32", "bf16", "fp16")


def test_every_field_is_declared_in_one_group():
    names = [f.name for f in dataclasses.fields(RunConfig)]
    assert [s.name for s in settings.SETTINGS] == names
    grouped = RunConfig(model="m", dataset="d", strategy="lora").grouped()
    assert list(grouped) == list(settings.GROUPS)
    assert sorted(n for group in grouped.values() for n in group) == sorted(names)
    assert settings.names("runtime") == ("precision", "gradient_checkpointing", "gradient_accumulation_steps")


@pytest.mark.parametrize("command", ["compare", "train"])
def test_run_options_come_from_the_declarations(command):
    from peftkit.cli import cli

    options = {p.opts[0]: p for p in cli.commands[command].params if p.opts[0] in RUN_OPTIONS}
    assert list(options) == RUN_OPTIONS  # the same options, in the same order, as before
    for s in settings.COMMAND_LINE:
        option = options[s.option]
        assert option.name == s.name and (option.help or "") == s.help
    assert options["--batch-size"].show_default and tuple(options["--precision"].type.choices) == PRECISIONS
    assert options["--trust-remote-code"].is_flag and options["--gradient-checkpointing"].is_flag
    required = ["-s", "lora", "-m", "m", "-d", "d", "-o", "o"] if command == "train" else []
    params = cli.commands[command].make_context(command, required).params
    assert (params["batch_size"], params["max_length"], params["precision"]) == (16, 128, "auto")
    assert params["trust_remote_code"] is False
    assert params["gradient_checkpointing"] is None and params["drop_invalid_rows"] is None  # a recipe may set them
    assert params["learning_rate"] is None and params["gradient_accumulation_steps"] is None
    assert params["task"] is None and params["subword_labels"] is None  # not given: inferred / the default
    assert tuple(options["--task"].type.choices) == ("sequence-classification", "token-classification")
    assert tuple(options["--subword-labels"].type.choices) == ("first", "all")


def test_recipe_keys_and_comparison_keys_are_the_ones_they_were():
    assert list(SCHEMA) == [
        "description", "model", "dataset", "strategies", "seeds", "epochs", "learning_rate", "warmup", "weight_decay",
        "batch_size", "max_length", "max_train_samples", "max_eval_samples", "text_column", "text_pair_column",
        "label_column", "eval_split", "precision", "output", "gradient_checkpointing", "gradient_accumulation_steps",
        "drop_invalid_rows", "task", "subword_labels", "profile", "search", "search_grid", "epochs_grid"]
    assert SCHEMA["warmup"] == ((int, float), "fraction of steps") and SCHEMA["precision"][1] == "auto, fp32, bf16 or fp16"
    assert HYPERPARAMETERS == ("learning_rate", "epochs", "warmup", "weight_decay", "batch_size")
    assert STRATEGY_KEYS == ("spec", *HYPERPARAMETERS)
    assert "trust_remote_code" not in SCHEMA and "holdout" not in SCHEMA  # a recipe cannot allow remote code
    assert "train_examples" not in SCHEMA  # found from the data, never given
    assert set(SHARED_KEYS) >= {"model", "dataset", "max_length", "eval_split", "precision", "trust_remote_code"}


def test_comparison_json_says_what_it_said():
    def shared(**kw):
        base = RunConfig(model="m", dataset="d", strategy="full", **kw)
        return Comparison(base=base, strategies=[StrategyRun("lora")], seeds=[0], output=None).shared()

    plain = {"model": "m", "dataset": "d", "max_length": 128, "max_train_samples": None, "max_eval_samples": None,
             "text_column": None, "text_pair_column": None, "label_column": None, "eval_split": None,
             "precision": "auto", "trust_remote_code": False}
    assert shared() == plain
    assert shared(drop_invalid_rows=True) == {**plain, "drop_invalid_rows": True}
    assert shared(eval_split="train-holdout") == shared(holdout=True) == {**plain, "eval_split": "train-holdout"}


def test_holdout_is_a_field_and_the_old_spelling_still_reads():
    old = RunConfig(model="m", dataset="d", strategy="lora", eval_split="train-holdout")
    assert old.holdout is True and old.eval_split is None
    assert old == RunConfig(model="m", dataset="d", strategy="lora", holdout=True)
    assert RunConfig.from_dict(old.to_dict()) == old
    assert old.identity()["eval_split"] == "train-holdout" and "holdout" not in old.identity()
    assert "holdout" not in RunConfig(model="m", dataset="d", strategy="lora").identity()  # left out at its default


def test_a_stored_held_out_run_keeps_its_run_id():
    """A record of benchmarks/results/search-sst2/search/runs/, as it was stored (before `holdout`)."""
    config = {"model": "builtin:all-minilm-l6-v2", "dataset": "../shared/data/sst2", "strategy": "gradual", "seed": 0,
              "epochs": 3.0, "learning_rate": 0.0001, "warmup": 0.1, "weight_decay": 0.01, "batch_size": 16,
              "max_length": 128, "max_train_samples": None, "max_eval_samples": None, "text_column": None,
              "text_pair_column": None, "label_column": None, "eval_split": "train-holdout", "precision": "auto",
              "trust_remote_code": False, "gradient_checkpointing": False, "gradient_accumulation_steps": 1}
    loaded = RunConfig.from_dict(config)
    assert loaded.holdout and loaded.run_id() == "gradual__seed0__3a36e8c30e"
    assert dataclasses.replace(loaded, eval_split="test").run_id() == loaded.run_id()  # the search ignored it too


@pytest.mark.parametrize("kwargs, line", [
    (dict(warmup=1.0), "warmup must be in [0, 1), got 1.0"),
    (dict(epochs=0), "epochs must be positive, got 0"),
    (dict(gradient_accumulation_steps=0), "gradient-accumulation-steps must be positive, got 0"),
    (dict(max_eval_samples=-1), "max-eval-samples must be positive, got -1"),
    (dict(precision="fp8"), "precision must be one of auto, fp32, bf16, fp16, got 'fp8'"),
])
def test_refusals_keep_their_lines(kwargs, line):
    with pytest.raises(OptionError) as e:
        RunConfig(model="m", dataset="d", strategy="lora", **kwargs)
    assert str(e.value) == line


def test_one_precision_resolver(monkeypatch):
    import torch

    from peftkit import training

    for p in ("fp32", "bf16", "fp16"):
        assert resolve_precision(p, "cpu") == resolve_precision(p, "cuda") == p
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_precision("auto", "cpu") == resolve_precision("auto") == "fp32"
    assert resolve_precision("auto", "cuda") == "bf16"  # estimating for a GPU elsewhere: a current one
    assert training._precision_flags("auto") == {"bf16": False, "fp16": False}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert resolve_precision("auto") == resolve_precision("auto", "cuda") == "fp16"
    assert training._precision_flags("auto") == {"bf16": False, "fp16": True}
    assert resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert resolve_precision("auto") == training._compute_dtype("auto") == "bf16"
    with pytest.raises(OptionError, match="precision must be one of auto, fp32, bf16, fp16, got 'fp8'"):
        resolve_precision("fp8", "cpu")
