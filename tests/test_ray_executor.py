"""`compare --executor ray` on a local Ray cluster that the tests start on this machine, in a network namespace
of their own (only its loopback: Ray would otherwise talk over the machine's own address).

Two tiny runs at once give the metrics of one run at a time; a worker killed mid-run is a failed row while the
other run finishes, and a Ray worker killed twice (Ray retries once) is too; a rerun completes exactly the
missing runs; without Ray the executor says how to install it, in one line."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from plugin_dist import write_plugin

from peftkit import demo

pytest.importorskip("ray")

PLUGIN = '''
import os
import signal
import time

from peftkit.strategies.base import Strategy


class Killed(Strategy):
    name = "killed"
    description = "its worker process dies mid-run"

    def apply(self, model):
        if next(model.parameters()).is_meta:  # the driver estimating the task's memory: not the run
            return self._mark(model)
        os.kill(os.getpid(), signal.SIGKILL)


class RayWorkerKilled(Strategy):
    name = "raykilled"
    description = "kills the Ray worker that runs it (Ray retries once, then gives up)"

    def apply(self, model):
        if next(model.parameters()).is_meta:
            return self._mark(model)
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(60)
'''


def test_without_a_cluster_the_executor_says_so_in_one_line_before_writing(tmp_path):
    # first in this file: before the tests' own cluster exists (once stopped, Ray may still try to reach it)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ADDRESS": ""}
    result = subprocess.run([sys.executable, "-m", "peftkit", "compare", "-s", "head", "--executor", "ray",
                             "--ray-address", "auto", "--output", str(tmp_path / "out")],
                            capture_output=True, text=True, env=env, timeout=300)
    err = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(err) == 1 and "cannot reach a Ray cluster" in err[0], result.stderr
    assert not (tmp_path / "out").exists()


def _namespace() -> subprocess.Popen | None:
    """A process holding a network namespace with only a loopback, or None where this machine cannot make one."""
    if not (shutil.which("unshare") and shutil.which("nsenter")):
        return None
    holder = subprocess.Popen(["unshare", "-n", "sh", "-c", "ip link set lo up && echo up && exec sleep 3600"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if holder.stdout.readline().strip() != "up":
        holder.kill()
        return None
    return holder


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(run(*command) inside the namespace, the assets): a Ray head with 2 CPUs, the plugin strategies on its path."""
    holder = _namespace()
    if holder is None:
        pytest.skip("needs a network namespace (unshare -n, as root) to keep Ray on a loopback of its own")
    root = tmp_path_factory.mktemp("ray")
    plugins = write_plugin(root / "plugins", "ray_faults", PLUGIN, {"killed": "Killed", "raykilled": "RayWorkerKilled"})
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", "")])}
    ray_cli = [sys.executable, "-c", "from ray.scripts.scripts import main; main()"]

    def run(*command, timeout=900):
        return subprocess.run(["nsenter", "-t", str(holder.pid), "-n", *command], capture_output=True, text=True,
                              env=env, timeout=timeout)

    started = run(*ray_cli, "start", "--head", "--port", "6379", "--num-cpus", "2", "--include-dashboard", "false",
                  "--disable-usage-stats")
    assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
    assets = demo.write_tiny_model(root / "model"), demo.write_dataset(root / "data", n_train=48, n_eval=16)
    try:
        yield run, root, assets
    finally:
        run(*ray_cli, "stop", "--force", timeout=120)
        holder.kill()


def compare(run, assets, out, *args):
    model, data = assets
    return run(sys.executable, "-m", "peftkit", "compare", "--model", str(model), "--dataset", str(data),
               "--max-length", "16", "--batch-size", "4", "--epochs", "2", "--output", str(out), *args)


def records(out) -> dict[str, dict]:
    return {r["run_info"]["config"]["strategy"]: r for r in (json.loads(p.read_text()) for p in (out / "runs").glob("*.json"))}


def test_two_runs_at_once_on_ray_give_the_metrics_of_one_at_a_time_and_bring_their_logs_back(cluster):
    run, root, assets = cluster
    on_ray = compare(run, assets, root / "ray", "-s", "head", "-s", "lora", "--executor", "ray")
    alone = compare(run, assets, root / "local", "-s", "head", "-s", "lora")
    assert on_ray.returncode == alone.returncode == 0, on_ray.stdout[-3000:] + on_ray.stderr[-3000:]
    ray_runs, local_runs = records(root / "ray"), records(root / "local")
    for strategy in ("head", "lora"):
        a, b = ray_runs[strategy]["train_info"], local_runs[strategy]["train_info"]
        assert (a["status"], a["eval_accuracy"], a["eval_f1_macro"]) == (b["status"], b["eval_accuracy"], b["eval_f1_macro"])
        assert a["eval_loss"] == pytest.approx(b["eval_loss"], rel=1e-6)  # one torch thread a task: another sum order
        assert ray_runs[strategy]["meta_info"]["torch_threads"] == 1  # the task's CPU, as its record says
        assert (root / "ray" / "logs" / f"{ray_runs[strategy]['run_info']['run_id']}.log").read_text()


def test_a_rerun_completes_exactly_the_missing_runs(cluster):
    run, root, assets = cluster
    out = root / "ray"
    kept = {p.name: p.read_bytes() for p in (out / "runs").glob("*.json")}
    lost = next(p for p in (out / "runs").glob("lora*.json"))
    lost.unlink()
    rerun = compare(run, assets, out, "-s", "head", "-s", "lora", "--executor", "ray")
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert "skipping 1 finished run(s), 1 to go" in rerun.stdout
    assert (out / "runs" / next(n for n in kept if n.startswith("head"))).read_bytes() == \
        kept[next(n for n in kept if n.startswith("head"))]
    assert sorted(records(out)) == ["head", "lora"]


def test_killed_workers_are_failed_rows_while_the_other_run_finishes(cluster):
    run, root, assets = cluster
    out = root / "faults"
    result = compare(run, assets, out, "-s", "head", "-s", "killed", "-s", "raykilled", "--executor", "ray")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = {name: r["train_info"] for name, r in records(out).items()}
    assert rows["head"]["status"] == "ok"
    assert rows["killed"]["status"] == "failed" and "worker exited with status -9" in rows["killed"]["error"]
    assert rows["raykilled"]["status"] == "failed" and "after 1 retry" in rows["raykilled"]["error"]


def test_without_ray_the_executor_says_how_to_install_it_in_one_line(tmp_path, monkeypatch, capsys):
    from peftkit.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as where it is not installed
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "-s", "head", "--executor", "ray", "--output", str(tmp_path / "out")])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert exit_info.value.code == 2 and len(err) == 1 and 'pip install "peftkit[ray]"' in err[0], err
    assert not (tmp_path / "out").exists()

