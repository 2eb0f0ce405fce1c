"""Speed and memory options change how a run computes, never what trains or what it learns."""

import math

import pytest

from peftkit import demo
from peftkit.training import RunConfig, train_and_evaluate


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("options")
    return demo.write_tiny_model(root / "model"), demo.write_dataset(root / "data", n_train=64, n_eval=32)


def _run(assets, tmp_path, **options):
    model, data = assets
    config = RunConfig(model=str(model), dataset=str(data), strategy=options.pop("strategy", "lora:r=4"), epochs=1,
                       max_length=16, batch_size=8, **options)
    return train_and_evaluate(config, tmp_path / str(len(list(tmp_path.iterdir()))))


@pytest.mark.parametrize("strategy", ["lora:r=4", "full", "prompt"])
def test_gradient_checkpointing_changes_nothing_that_trains(assets, tmp_path, strategy):
    plain = _run(assets, tmp_path, strategy=strategy)
    checkpointed = _run(assets, tmp_path, strategy=strategy, gradient_checkpointing=True)
    assert checkpointed["trainable_params"] == plain["trainable_params"]
    assert checkpointed["params_breakdown"] == plain["params_breakdown"]
    assert math.isclose(checkpointed["train_loss"], plain["train_loss"], rel_tol=1e-4)
    assert checkpointed["eval_accuracy"] == plain["eval_accuracy"]


def test_gradient_accumulation_keeps_the_trainable_set(assets, tmp_path):
    plain = _run(assets, tmp_path)
    accumulated = _run(assets, tmp_path, gradient_accumulation_steps=2)
    assert accumulated["trainable_params"] == plain["trainable_params"]
    assert accumulated["train_steps"] == plain["train_steps"] // 2


def test_throughput_figures_are_reported(assets, tmp_path):
    info = _run(assets, tmp_path)
    assert info["train_tokens_per_second"] > 0 and info["model_flops_per_second"] > 0
    assert info["mfu"] is None  # no peak to compare with on a CPU
    assert info["estimated_peak_bytes"] > 0 and info["estimate"]["activations"] > 0
    assert info["attention"] in ("sdpa", "eager")
    moments = 2 * 4 * info["trainable_params"]  # AdamW: two fp32 moments per trainable parameter, plus a step count
    assert moments <= info["optimizer_state_bytes"] <= moments + 8 * 32
    assert info["gradient_bytes"] == 4 * info["trainable_params"]


def test_run_ids_of_earlier_configs_do_not_change():
    """Options added later stay out of the run id at their defaults: earlier results still resume."""
    config = RunConfig(model="m", dataset="d", strategy="lora", seed=0)
    assert config.run_id() == RunConfig(model="m", dataset="d", strategy="lora", gradient_accumulation_steps=1).run_id()
    assert config.run_id() != RunConfig(model="m", dataset="d", strategy="lora", gradient_checkpointing=True).run_id()
    assert config.run_id() == RunConfig(model="m", dataset="d", strategy="lora", drop_invalid_rows=False).run_id()
    assert config.run_id() != RunConfig(model="m", dataset="d", strategy="lora", drop_invalid_rows=True).run_id()


@pytest.mark.parametrize("name", ["seed", "epochs", "learning_rate", "warmup", "weight_decay", "batch_size", "max_length",
                                  "max_train_samples", "max_eval_samples", "gradient_accumulation_steps"])
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_every_numeric_setting_must_be_finite(name, value):
    from peftkit.errors import OptionError

    with pytest.raises(OptionError) as e:
        RunConfig(model="m", dataset="d", strategy="lora", **{name: value})
    assert str(e.value) == f"{name.replace('_', '-')} must be a finite number, got {value}"


def test_weight_decay_message_names_its_range():
    from peftkit.errors import OptionError

    with pytest.raises(OptionError, match=r"weight-decay must be 0 or more, got -0.1"):
        RunConfig(model="m", dataset="d", strategy="lora", weight_decay=-0.1)
