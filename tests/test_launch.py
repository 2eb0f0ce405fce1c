"""How peftkit reads the launcher's environment: FSDP only where accelerate really shards."""

import pytest
import torch

from peftkit import launch


def test_nothing_launched(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "ACCELERATE_USE_FSDP"):
        monkeypatch.delenv(name, raising=False)
    assert launch.distributed_world() == (1, 0) and not launch.launched_distributed()
    assert not launch.fsdp_requested() and not launch.fsdp_launched() and launch.launch_notes() == []


def test_fsdp_on_a_cpu_is_ddp_and_says_so(monkeypatch):
    """accelerate keeps MULTI_CPU (DDP) for --use_fsdp without an accelerator: strategies must not act as if sharded."""
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: False)
    assert launch.fsdp_requested() and not launch.fsdp_launched()
    assert launch.launch_notes() == [launch.FSDP_ON_CPU_NOTE]


def test_fsdp_on_an_accelerator(monkeypatch):
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: True)
    assert launch.fsdp_launched() and launch.launch_notes() == []


def gradual_at_train_begin(tmp_path):
    """What a Trainer hands gradual's callback at on_train_begin: real arguments, state, and the optimizer and
    schedule it built over the parameters that required grad (the head alone at stage 0)."""
    from tiny_models import tiny_model
    from transformers import TrainerControl, TrainerState, TrainingArguments, get_linear_schedule_with_warmup

    from peftkit import get_strategy

    strategy = get_strategy("gradual")
    model = strategy.apply(tiny_model("bert"))
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[], learning_rate=1e-3,
                             weight_decay=0.01)
    assert args.world_size == 1  # resolved now, before a test changes the launcher's environment
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.learning_rate)
    scheduler = get_linear_schedule_with_warmup(optimizer, 0, 10)
    state = TrainerState()
    state.epoch, state.global_step = 0.0, 0
    callback, = strategy.callbacks()
    return strategy, model, callback, dict(args=args, state=state, control=TrainerControl(), model=model,
                                           optimizer=optimizer, lr_scheduler=scheduler)


HEAD = ["classifier.weight", "classifier.bias"]


def trainable(model):
    return [name for name, p in model.named_parameters() if p.requires_grad]


def test_gradual_refuses_real_fsdp_and_changes_nothing(monkeypatch, tmp_path):
    from peftkit import PeftkitError

    _, model, callback, hooks = gradual_at_train_begin(tmp_path)
    groups = [list(g["params"]) for g in hooks["optimizer"].param_groups]
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: True)
    with pytest.raises(PeftkitError) as e:
        callback.on_train_begin(**hooks)
    assert str(e.value) == ("gradual unfreezing does not run under FSDP: FSDP fixes which parameters train when it "
                            "shards the model; use DDP (accelerate launch --multi_gpu) or another strategy")
    assert [list(g["params"]) for g in hooks["optimizer"].param_groups] == groups  # the optimizer as it was
    assert trainable(model) == HEAD and model.peftkit_stage == 0


def test_gradual_under_fsdp_on_a_cpu_trains_as_under_ddp(monkeypatch, tmp_path):
    """--use_fsdp without an accelerator is DDP: the callback puts every parameter in the optimizer, by depth."""
    strategy, model, callback, hooks = gradual_at_train_begin(tmp_path)
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: False)
    callback.on_train_begin(**hooks)
    optimizer, scheduler = hooks["optimizer"], hooks["lr_scheduler"]
    in_optimizer = [p for g in optimizer.param_groups for p in g["params"]]
    assert len(in_optimizer) == len(list(model.parameters())) and {id(p) for p in in_optimizer} == \
        {id(p) for p in model.parameters()}
    depths = sorted({g["depth"] for g in optimizer.param_groups})
    assert depths == [0, 1, 2, 3]  # head, top block, lower block, embeddings
    for g in optimizer.param_groups:  # lower groups at 1/2.6 of the rate above, as ULMFiT
        assert g["initial_lr"] == pytest.approx(1e-3 * strategy.options.lr_decay ** max(g["depth"] - 1, 0))
    assert scheduler.base_lrs == [g["initial_lr"] for g in optimizer.param_groups]
    assert {g["weight_decay"] for g in optimizer.param_groups} == {0.0, 0.01}  # args' decay; none on biases, norms
    assert trainable(model) == HEAD and model.peftkit_stage == 0  # stage 0 at step 0: the head alone
