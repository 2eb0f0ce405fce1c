"""How peftkit reads the launcher's environment: FSDP only where accelerate really shards."""

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


def test_gradual_refuses_real_fsdp_only(monkeypatch):
    import pytest

    from peftkit import PeftkitError, get_strategy

    callback, = get_strategy("gradual").callbacks()
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: True)
    with pytest.raises(PeftkitError, match="FSDP"):
        callback.on_train_begin(args=None, state=None, control=None)
