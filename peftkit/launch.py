"""What the distributed launcher (``accelerate launch``, ``torchrun``) set up for this process."""

from __future__ import annotations

import os

FSDP_ON_CPU_NOTE = ("accelerate launch --use_fsdp: accelerate shards with FSDP on accelerators only; on this "
                    "machine (no GPU) the processes train with plain DDP instead")


def distributed_world() -> tuple[int, int]:
    """(world size, rank) when started by a distributed launcher, else (1, 0)."""
    return int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))


def launched_distributed() -> bool:
    return distributed_world()[0] > 1


def fsdp_requested() -> bool:
    """The launcher was asked for FSDP (``accelerate launch --use_fsdp``)."""
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() in ("1", "true")


def fsdp_launched() -> bool:
    """Parameters are really sharded, and so what trains is fixed when the model is wrapped.

    accelerate turns ``--use_fsdp`` into FSDP only on an accelerator; on a CPU it runs DDP (its
    ``AcceleratorState`` keeps ``MULTI_CPU``), where every strategy works as usual."""
    if not fsdp_requested():
        return False
    import torch

    accelerator = getattr(torch, "accelerator", None)  # torch >= 2.6
    return accelerator.is_available() if accelerator else torch.cuda.is_available()


def launch_notes() -> list[str]:
    """What the user should know about how this launch really trains."""
    return [FSDP_ON_CPU_NOTE] if fsdp_requested() and not fsdp_launched() else []
