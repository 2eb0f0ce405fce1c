"""What the distributed launcher (``accelerate launch``, ``torchrun``) set up for this process."""

from __future__ import annotations

import os


def distributed_world() -> tuple[int, int]:
    """(world size, rank) when started by a distributed launcher, else (1, 0)."""
    return int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))


def launched_distributed() -> bool:
    return distributed_world()[0] > 1


def fsdp_launched() -> bool:
    """``accelerate launch --use_fsdp``: parameters are sharded and frozen/trainable is fixed at wrapping."""
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() in ("1", "true")
