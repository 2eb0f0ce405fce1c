"""Gradual unfreezing: layers unfrozen later must really be trained, by a Trainer and by a plain loop."""

import pytest
import torch
from tiny_models import batch, tiny_model
from transformers import Trainer, TrainerCallback, TrainingArguments

import peftkit


def _snapshot(model):
    return {
        "top": model.bert.encoder.layer[1].attention.self.query.weight.detach().clone(),
        "bottom": model.bert.encoder.layer[0].output.dense.weight.detach().clone(),
        "embeddings": model.bert.embeddings.word_embeddings.weight.detach().clone(),
        "head": model.classifier.weight.detach().clone(),
    }


def _changes(history):
    """For each step, which parts changed during that step."""
    return [{k for k in a if not torch.equal(a[k], b[k])} for a, b in zip(history, history[1:])]


class _Recorder(TrainerCallback):
    def __init__(self, model):
        self.history = [_snapshot(model)]

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.history.append(_snapshot(model))


class _Data(torch.utils.data.Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, i):
        b = batch("bert", seed=i)
        return {k: v[0] for k, v in b.items()}


def test_trainer_updates_layers_after_they_are_unfrozen(tmp_path):
    model = tiny_model("bert")
    strategy = peftkit.get_strategy("gradual", unfreeze_every=2, unit="step", lr_decay=0.5)
    model = strategy.apply(model)
    recorder = _Recorder(model)
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=7, per_device_train_batch_size=4, learning_rate=1e-2,
                             report_to=[], save_strategy="no", logging_strategy="no", use_cpu=True,
                             lr_scheduler_type="constant", seed=0)
    trainer = Trainer(model=model, args=args, train_dataset=_Data(), callbacks=[*strategy.callbacks(), recorder])
    trainer.train()
    changes = _changes(recorder.history)
    # steps 0-1: head only; 2-3: + top block; 4-5: + bottom block; 6: + embeddings
    assert changes[0] == changes[1] == {"head"}
    assert changes[2] == changes[3] == {"head", "top"}
    assert changes[4] == changes[5] == {"head", "top", "bottom"}
    assert changes[6] == {"head", "top", "bottom", "embeddings"}
    # layer-wise learning rates: each group below the top block gets half its neighbour's rate
    rates = {g["depth"]: g["lr"] for g in trainer.optimizer.param_groups}
    assert rates[0] == rates[1] == pytest.approx(1e-2)
    assert rates[2] == pytest.approx(5e-3) and rates[3] == pytest.approx(2.5e-3)


def test_plain_loop_with_parameter_groups_and_hook():
    model = tiny_model("bert")
    strategy = peftkit.get_strategy("gradual", unfreeze_every=1, unit="epoch")
    model = strategy.apply(model)
    optimizer = torch.optim.AdamW(strategy.parameter_groups(model, lr=1e-2, weight_decay=0.01))
    history = [_snapshot(model)]
    step = 0
    for epoch in range(4):
        for i in range(2):
            strategy.on_train_step(model, epoch=epoch, global_step=step)
            loss = model(**batch("bert", seed=i)).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            step += 1
        history.append(_snapshot(model))
    changes = _changes(history)
    assert changes == [{"head"}, {"head", "top"}, {"head", "top", "bottom"}, {"head", "top", "bottom", "embeddings"}]
    # frozen parameters never held optimizer state before they were unfrozen (epoch 0 had only the head)


def test_frozen_parameters_cost_no_optimizer_state():
    model = peftkit.get_strategy("gradual").apply(tiny_model("bert"))
    strategy = model.peftkit_strategy
    optimizer = torch.optim.AdamW(strategy.parameter_groups(model, lr=1e-3))
    model(**batch("bert")).loss.backward()
    optimizer.step()
    with_state = {id(p) for p in optimizer.state}
    for name, p in model.named_parameters():
        assert (id(p) in with_state) == p.requires_grad, name


def test_stages_cover_every_block():
    model = peftkit.get_strategy("gradual").apply(tiny_model("llama"))
    strategy = model.peftkit_strategy
    assert strategy.num_stages(model) == 2 + 2  # head, 2 blocks, embeddings
    strategy.set_stage(model, 3)
    assert all(p.requires_grad for p in model.parameters())
