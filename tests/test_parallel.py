"""`compare --jobs N`: runs side by side, each in its own process, with the same results as one at a time; the
slots on a CPU and on GPUs; Ctrl-C with several runs in flight; two compares sharing one output directory."""

import json
import signal
import subprocess
import sys
import time

import pytest

from peftkit import demo, parallel
from peftkit.errors import PeftkitError
from peftkit.parallel import Execution
from peftkit.store import Claim, ResultStore

STRATEGIES = ["-s", "head", "-s", "bitfit", "-s", "lora"]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("parallel")
    return root, demo.write_tiny_model(root / "model"), demo.write_dataset(root / "data", n_train=64, n_eval=32)


def compare(model, data, out, *args, **popen):
    command = [sys.executable, "-m", "peftkit", "compare", "--model", str(model), "--dataset", str(data),
               "--max-length", "16", "--batch-size", "4", "--output", str(out), *args]
    if popen:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


def metrics(out) -> dict[str, dict]:
    """Each run's measured outcome (not its times or memory), by run id."""
    keys = ("status", "eval_accuracy", "eval_f1_macro", "eval_loss", "train_loss")
    records = (json.loads(p.read_text()) for p in (out / "runs").glob("*.json"))
    return {r["run_info"]["run_id"]: {k: r["train_info"].get(k) for k in keys} for r in records}


def test_the_metrics_do_not_depend_on_how_many_runs_train_at_once(assets):
    root, model, data = assets
    one = compare(model, data, root / "one", *STRATEGIES, "--epochs", "2", "--jobs", "1")
    two = compare(model, data, root / "two", *STRATEGIES, "--epochs", "2", "--jobs", "2")
    assert one.returncode == two.returncode == 0, one.stdout[-2000:] + two.stdout[-2000:]
    assert "--jobs 2 on a CPU" in two.stdout and "1 torch thread each" in two.stdout, two.stdout
    alone, side_by_side = metrics(root / "one"), metrics(root / "two")
    assert len(alone) == 3 and set(alone) == set(side_by_side)
    for run_id, measured in alone.items():  # the same predictions, so the same accuracy and F1; the losses are
        # sums that a run with fewer torch threads adds up in another order: equal to the last digits
        other = side_by_side[run_id]
        assert {k: measured[k] for k in ("status", "eval_accuracy", "eval_f1_macro")} == \
            {k: other[k] for k in ("status", "eval_accuracy", "eval_f1_macro")}
        for key in ("eval_loss", "train_loss"):
            assert other[key] == pytest.approx(measured[key], rel=1e-6), (run_id, key)
    threads = {json.loads(p.read_text())["meta_info"]["torch_threads"] for p in (root / "two" / "runs").glob("*.json")}
    assert threads == {max(1, parallel.cpu_cores() // 2)}  # the record says what the run's process had


def test_ctrl_c_marks_every_run_in_flight_interrupted_and_the_rerun_redoes_exactly_those(assets):
    root, model, data = assets
    out = root / "ctrl-c"
    args = ("-s", "lora", "-s", "bitfit", "-s", "head", "--epochs", "20", "--jobs", "2")
    process = compare(model, data, out, *args, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    while time.time() < deadline and len(list((out / "logs").glob("*.log"))) < 2:  # two workers started
        time.sleep(0.2)
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130 and "Traceback" not in output, output
    stopped = sorted(json.loads(p.read_text())["run_info"]["config"]["strategy"]
                     for p in (out / "interrupted").glob("*.json"))
    assert stopped == ["bitfit", "lora"], output  # both runs in flight; head never started
    assert not list((out / "runs").glob("*.json"))

    rerun = compare(model, data, out, *args)
    assert rerun.returncode == 0 and "2 interrupted" in rerun.stdout, rerun.stdout[-2000:]
    assert not list((out / "interrupted").glob("*.json"))


def test_two_compares_on_one_output_never_train_a_run_twice(assets):
    root, model, data = assets
    out = root / "shared"
    args = (*STRATEGIES, "-s", "ia3", "--epochs", "2")
    first, second = (compare(model, data, out, *args, start_new_session=True) for _ in range(2))
    outputs = [p.communicate(timeout=900)[0] for p in (first, second)]
    assert first.returncode == second.returncode == 0, outputs
    trained = sum(line.startswith("ok ") for text in outputs for line in text.splitlines())
    assert trained == len(metrics(out)) == 4, outputs  # each run trained by one of them, once
    assert "held by peftkit compare, pid" in "".join(outputs)  # the other said who holds it


def test_a_claim_says_who_holds_the_run_and_is_free_again_once_released(tmp_path):
    store = ResultStore(tmp_path)
    first = store.claim("lora__seed0__abc")
    assert isinstance(first, Claim)
    held = store.claim("lora__seed0__abc")
    assert isinstance(held, str) and held.startswith("held by peftkit compare, pid ")
    first.release()
    assert isinstance(store.claim("lora__seed0__abc"), Claim)


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5"])
def test_bad_jobs_are_one_line(text):
    with pytest.raises(PeftkitError, match="--jobs must be how many runs train at once"):
        parallel.parse_jobs(text)


def test_jobs_on_a_cpu_share_the_cores(monkeypatch):
    monkeypatch.setattr(parallel, "gpu_count", lambda: 0)
    monkeypatch.setattr(parallel, "cpu_cores", lambda: 8)
    planned, notes = parallel.plan(Execution(jobs=4), [])
    assert [s.env["OMP_NUM_THREADS"] for s in planned.slots] == ["2"] * 4
    assert notes == ["--jobs 4 on a CPU with 8 cores: 4 runs at once, 2 torch threads each"]
    assert parallel.plan(Execution(jobs=None), [])[0].jobs == 1  # auto: 1 on a CPU


def test_jobs_on_gpus_take_a_device_each_and_share_one_only_as_far_as_the_estimate_fits(monkeypatch):
    monkeypatch.setattr(parallel, "gpu_count", lambda: 2)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    planned, _ = parallel.plan(Execution(jobs=None), [])  # auto: one per GPU
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in planned.slots] == ["0", "1"]
    monkeypatch.setattr(parallel, "gpu_memory", lambda: 80 * 2**30)
    monkeypatch.setattr(parallel, "largest_estimate", lambda runs: 30 * 2**30)  # two fit in 90% of 80 GiB
    planned, notes = parallel.plan(Execution(jobs=6), [])
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in planned.slots] == ["0", "0", "1", "1"]
    assert "30.0 GiB of a GPU's 80 GiB, so 2 share each GPU; 4 at once, not 6: more would not fit" in notes[0]
    monkeypatch.setattr(parallel, "largest_estimate", lambda runs: 5 * 2**30)
    assert len(parallel.plan(Execution(jobs=6), [])[0].slots) == 6
