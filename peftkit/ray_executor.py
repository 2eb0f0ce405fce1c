"""Runs as Ray tasks (``--executor ray``): a sweep larger than one machine, on an existing Ray cluster.

Each run is one Ray task. It asks for 1 GPU where the cluster has GPUs, else for one CPU and the memory its
``peftkit estimate`` gives; on its node it trains the run in a worker process of its own, as on one machine,
and returns the run's train_info and log. The driver (this process) alone claims runs, writes the store, the
reports and ``OUTPUT/logs/``. A run whose worker process dies is a failed row with the reason, and the sweep
goes on; a task whose node or Ray worker is lost is retried once by Ray, then is a failed row. Ctrl-C cancels
every task and marks the runs in flight interrupted; the same command resumes.

On a real cluster: ``ray start --head`` on one machine, ``ray start --address HEAD:6379`` on the others, then
``peftkit compare --executor ray ...`` on any of them (``--ray-address`` if it is not a cluster's machine).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from .errors import PeftkitError
from .parallel import Execution, estimated_peak
from .settings import RunConfig
from .store import Claim

INSTALL = 'pip install "peftkit[ray]" (in a checkout: pip install -e ".[ray]")'
TASK_RETRIES = 1  # Ray reruns a task once when its node or Ray worker is lost


def check_ray() -> None:
    """One clear line, before anything is written, where Ray is not installed."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise PeftkitError(f"--executor ray needs Ray, which is not installed: {INSTALL}") from None


def train_remotely(config: dict[str, Any], threads: int) -> tuple[dict[str, Any], str]:
    """The Ray task: one run in a worker process on this node; (train_info, its log)."""
    from .execute import run_worker

    with tempfile.TemporaryDirectory(prefix="peftkit-ray-") as tmp:
        log = Path(tmp) / "run.log"
        env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)} if threads else {}
        info = run_worker(RunConfig.from_dict(config), log, lambda step, total: None, env=env)
        return info, log.read_text(errors="replace") if log.exists() else ""


def connect(address: str):
    """Ray, joined to the cluster at ``address`` (a clear line where Ray is missing or no cluster answers)."""
    check_ray()
    import ray

    if not ray.is_initialized():
        try:
            ray.init(address=address, log_to_driver=False, include_dashboard=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise PeftkitError(f"cannot reach a Ray cluster at --ray-address {address} "
                               f"({str(e).strip().splitlines()[0]}); start one with `ray start --head`, or give its "
                               "address") from None
    return ray


def resources(ray, config: RunConfig) -> dict[str, Any]:
    """What one run's task asks Ray for: a GPU where the cluster has them, else a CPU and its estimated memory."""
    if ray.cluster_resources().get("GPU", 0) >= 1:
        return {"num_gpus": 1, "num_cpus": 1}
    peak = estimated_peak(config, "cpu")  # none: Ray places the task by its CPU alone
    return {"num_cpus": 1, **({"memory": peak} if peak else {})}


def run_on_ray(sweep, todo: list[tuple[int, RunConfig]], execution: Execution) -> None:
    """Submit every run the store lacks (and no other process holds) as a Ray task; write each as it returns."""
    ray = connect(execution.ray_address)
    task = ray.remote(max_retries=TASK_RETRIES)(train_remotely)
    submitted: dict[Any, tuple[int, RunConfig, Claim, Any]] = {}
    for order, config in todo:
        claim = sweep.store.claim(config.run_id())
        if not isinstance(claim, Claim):
            sweep.held_elsewhere(config, claim)
            continue
        if sweep.store.has(config.run_id()):
            claim.release()
            continue
        wants = resources(ray, config)
        threads = 0 if wants.get("num_gpus") else wants["num_cpus"]
        ref = task.options(**wants).remote(config.to_dict(), threads)
        submitted[ref] = (order, config, claim, sweep.tracker(config, "Ray")[0])
    try:
        while submitted:
            (ref,), _ = ray.wait(list(submitted), num_returns=1)
            order, config, claim, row = submitted.pop(ref)
            info = _result(ray, ref, sweep.store.directory / "logs" / f"{config.run_id()}.log")
            sweep.progress.remove_task(row)
            try:
                sweep.finish(order, config, info)
            finally:
                claim.release()
    except KeyboardInterrupt:
        for ref, (order, config, claim, _) in submitted.items():
            ray.cancel(ref, force=True)
            sweep.interrupted(order, config)
            claim.release()
        raise


def _result(ray, ref, log_path: Path) -> dict[str, Any]:
    """The run's train_info from its task (its log written to ``log_path``), or a failed one saying what Ray saw."""
    try:
        info, log = ray.get(ref)
    except ray.exceptions.RayError as e:
        first = next((line for line in str(e).splitlines() if line.strip()), type(e).__name__)
        return {"status": "failed", "error": f"Ray {type(e).__name__} (after {TASK_RETRIES} retry): {first[:300]}"}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text(log)
    return info
