"""Where a comparison's runs train: ``--jobs N`` at once on this machine, or as Ray tasks (``--executor ray``).

On this machine each run keeps its own worker process (its own peak memory, a crash its own), and a slot says
what that process may use: on GPUs a device each (``CUDA_VISIBLE_DEVICES``), and more runs than devices share
one only as far as ``peftkit estimate`` says they fit; on a CPU a share of the cores (torch threads). Nothing
here changes what a run computes, so no run id depends on it. ``--jobs auto``: one run per GPU, 1 on a CPU.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from typing import Mapping

from .errors import PeftkitError

EXECUTORS = ("local", "ray")
GPU_HEADROOM = 0.9  # of a GPU's memory that sharing runs may fill together, by their estimates


@dataclass(frozen=True)
class Slot:
    """One place a run can train: how progress names it, and what its worker's environment adds."""

    label: str = ""
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Execution:
    """How the runs are spread (``--jobs``, ``--executor``, ``--ray-address``); ``slots``: this machine's, once
    planned (``plan``)."""

    jobs: int | None = 1  # None: auto
    executor: str = "local"
    ray_address: str = "auto"
    slots: tuple[Slot, ...] = (Slot(),)

    def __post_init__(self):
        if self.executor not in EXECUTORS:
            raise PeftkitError(f"--executor must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")


SERIAL = Execution()


def parse_jobs(text: str | int | None) -> int | None:
    """``--jobs``: a whole number of runs at once, or auto (None)."""
    if text is None or str(text).strip().lower() == "auto":
        return None
    try:
        jobs = int(str(text).strip())
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise PeftkitError(f"--jobs must be how many runs train at once (1 or more) or auto, got {text!r}")
    return jobs


def cpu_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def plan(execution: Execution, runs: list, world: int = 1) -> tuple[Execution, list[str]]:
    """``execution`` with its jobs settled and this machine's slots, and the notes that say how."""
    gpus = gpu_count()
    jobs = execution.jobs or max(gpus, 1)
    if world > 1 and (jobs > 1 or execution.executor != "local"):
        raise PeftkitError("under accelerate launch or torchrun every process trains each run together: leave out "
                           "--jobs and --executor, or run peftkit compare without the launcher")
    if execution.executor == "ray" or jobs == 1:  # Ray places its tasks itself; one at a time needs no slots
        return replace(execution, jobs=jobs, slots=(Slot(),)), []
    if not gpus:
        return _on_cpu(execution, jobs)
    return _on_gpus(execution, jobs, gpus, runs)


def _on_cpu(execution: Execution, jobs: int) -> tuple[Execution, list[str]]:
    cores = cpu_cores()
    threads = max(1, cores // jobs)
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    slots = tuple(Slot(f"{threads} thread{'s' if threads > 1 else ''}", env) for _ in range(jobs))
    note = (f"--jobs {jobs} on a CPU with {cores} core{'s' if cores > 1 else ''}: {jobs} runs at once, {threads} torch "
            f"thread{'s' if threads > 1 else ''} each" + (" (more runs than cores: they share them)" if jobs > cores else ""))
    return replace(execution, jobs=jobs, slots=slots), [note]


def _visible_devices(gpus: int) -> list[str]:
    """The devices this process sees, as CUDA_VISIBLE_DEVICES names them for a child."""
    given = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return given[:gpus] if len(given) >= gpus else [str(i) for i in range(gpus)]


def _on_gpus(execution: Execution, jobs: int, gpus: int, runs: list) -> tuple[Execution, list[str]]:
    devices = _visible_devices(gpus)
    if jobs <= gpus:
        slots = tuple(Slot(f"GPU {d}", {"CUDA_VISIBLE_DEVICES": d}) for d in devices[:jobs])
        return replace(execution, jobs=jobs, slots=slots), [
            f"--jobs {jobs} on {gpus} GPU{'s' if gpus > 1 else ''}: one GPU a run ({', '.join(devices[:jobs])})"]
    wanted = math.ceil(jobs / gpus)
    largest, capacity = largest_estimate(runs), gpu_memory()
    if largest is None:
        per_gpu, why = 1, "peftkit estimate has no figure for these runs, so they do not share a GPU"
    else:
        per_gpu = max(1, min(wanted, int(GPU_HEADROOM * capacity // largest)))
        why = (f"peftkit estimate puts the largest run at {largest / 2**30:.1f} GiB of a GPU's "
               f"{capacity / 2**30:.0f} GiB, so {per_gpu} share{'s' if per_gpu == 1 else ''} each GPU")
    slots = tuple(Slot(f"GPU {d}", {"CUDA_VISIBLE_DEVICES": d}) for d in devices for _ in range(per_gpu))
    fewer = f"; {len(slots)} at once, not {jobs}: more would not fit" if len(slots) < jobs else ""
    return replace(execution, jobs=len(slots), slots=slots), [
        f"--jobs {jobs} on {gpus} GPU{'s' if gpus > 1 else ''}: {why}{fewer}"]


def gpu_memory() -> int:
    """Bytes of the smallest visible GPU."""
    import torch

    return min(torch.cuda.get_device_properties(i).total_memory for i in range(torch.cuda.device_count()))


def estimated_peak(config, device: str) -> int | None:
    """``peftkit estimate``'s training peak in bytes for the run ``config`` on ``device`` (None: it cannot model it)."""
    from .estimate import estimate_memory

    try:
        return int(estimate_memory(config.model, config.strategy, config.batch_size, config.max_length,
                                   precision=config.precision, gradient_checkpointing=config.gradient_checkpointing,
                                   device=device, trust_remote_code=config.trust_remote_code, task=config.task).total)
    except Exception:  # noqa: BLE001 - a run the estimate cannot model is not planned on its figure
        return None


def largest_estimate(runs: list) -> int | None:
    """The largest training peak ``peftkit estimate`` predicts for ``runs`` on a GPU (None: none could be made)."""
    peaks = [estimated_peak(c, "cuda") for c in {(c.model, c.strategy, c.batch_size, c.max_length): c for c in runs}.values()]
    return max((p for p in peaks if p is not None), default=None)
