"""AdaLoRA: its rank budget schedule takes the run's step count from the Trainer, reallocates after every
optimizer step, and its artifact keeps the ranks that survived; without a step count it says how to give one."""

import pytest
import torch
from tiny_models import batch, tiny_model
from transformers import Trainer, TrainingArguments

from peftkit.errors import OptionError
from peftkit.registry import strategy_from_spec


def _train(strategy, model, tmp_path, rows=24, epochs=2):
    data = [{k: v[i % 2] for k, v in batch("bert").items()} for i in range(rows)]
    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=1e-2, num_train_epochs=epochs,
                             per_device_train_batch_size=4, report_to=[], use_cpu=True, save_strategy="no")
    trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=strategy.callbacks())
    trainer.train()
    return trainer


def test_the_budget_schedule_follows_the_trainer_and_shrinks_to_the_target(tmp_path):
    strategy = strategy_from_spec("adalora:init_r=6,target_r=2,delta_t=1")
    model = strategy.apply(tiny_model("bert"))
    trainer = _train(strategy, model, tmp_path)
    config = model.peft_config["default"]
    assert config.total_step == trainer.state.max_steps == 12
    assert (config.tinit, config.tfinal) == (1, 5)  # 12% and 44% of 12 steps
    kept = [sum(mask) for mask in config.rank_pattern.values()]
    assert len(kept) == 4 and sum(kept) == 2 * len(kept)  # 2 a projection on average, spread as they matter
    # the singular values that lost their place stay zero
    values = [p for n, p in model.named_parameters() if "lora_E" in n]
    assert sum(int((v != 0).sum()) for v in values) == sum(kept)


def test_a_loop_without_the_step_count_is_told_how_to_give_it():
    strategy = strategy_from_spec("adalora")
    model = strategy.apply(tiny_model("bert"))
    model(**batch("bert")).loss.backward()
    with pytest.raises(OptionError, match=r"on_train_begin\(model, total_steps=N\)"):
        strategy.on_optimizer_step(model, global_step=0)
    strategy.on_train_begin(model, total_steps=50)
    strategy.on_optimizer_step(model, global_step=0)
    assert model.peft_config["default"].total_step == 50


def test_the_orthogonality_penalty_is_in_the_training_loss():
    model = strategy_from_spec("adalora:orth_reg_weight=0").apply(tiny_model("bert"))
    torch.manual_seed(0)
    plain = model(**batch("bert")).loss
    model.peft_config["default"].orth_reg_weight = 1.0
    assert model(**batch("bert")).loss > plain


@pytest.mark.parametrize("spec, words", [
    ("adalora:target_r=20", "at most init_r"),
    ("adalora:tinit=0.6", "below 1 - tinit"),
    ("adalora:beta1=1", "in \\(0, 1\\)"),
    ("adalora:total_step=100", "unknown option 'total_step'"),
])
def test_bad_options_say_what_is_wrong(spec, words):
    with pytest.raises(OptionError, match=words):
        strategy_from_spec(spec)
