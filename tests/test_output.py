"""A failed write never loses a finished training nor leaves half an artifact (peftkit/output.py, `train`),
and a sweep's exit code tells the truth (`compare`)."""

import errno
import os
import shutil
import subprocess
import sys
from collections import namedtuple

import pytest

from peftkit import demo, output
from peftkit.cli import main
from peftkit.errors import PeftkitError


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("assets")
    return demo.write_tiny_model(root / "model"), demo.write_dataset(root / "data", n_train=32, n_eval=16)


def run_cli(*args):
    """The CLI in this process (so that tests can break the disk): (exit code, stderr lines)."""
    try:
        main(list(args))
    except SystemExit as e:
        return e.code
    return 0


def train_args(assets, out):
    model, data = assets
    return ["train", "-s", "lora:r=4", "--model", str(model), "--dataset", str(data), "--output", str(out),
            "--epochs", "1", "--max-length", "16"]


def test_an_output_under_a_file_is_refused_before_training(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(PeftkitError, match="is a file"):
        output.check_writable(tmp_path / "file" / "out", 1000)


def test_an_unwritable_output_is_refused_before_training(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(output.tempfile, "mkstemp", denied)
    with pytest.raises(PeftkitError, match="cannot write to .*Permission denied.*nothing was trained"):
        output.check_writable(tmp_path / "out", 1000)


def test_a_disk_without_room_for_the_artifact_is_refused_before_training(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(output.shutil, "disk_usage", lambda path: usage(10 << 30, 10 << 30, 1 << 20))
    with pytest.raises(PeftkitError, match="1.0 MiB free, and the artifact needs about .*nothing was trained"):
        output.check_writable(tmp_path / "out", 50 << 20)


def test_publish_leaves_nothing_when_a_write_fails(tmp_path, monkeypatch):
    artifact = tmp_path / "artifact"
    artifact.mkdir()
    (artifact / "weights.safetensors").write_bytes(b"123")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(output.Path, "write_text", full)
    with pytest.raises(OSError):
        output.publish(artifact, tmp_path / "out", {"metrics.json": "{}"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifact"]
    assert (artifact / "weights.safetensors").read_bytes() == b"123"


def test_published_files_follow_the_umask(tmp_path):
    artifact = tmp_path / "artifact"
    (artifact / "sub").mkdir(parents=True)
    (artifact / "sub" / "w.safetensors").write_bytes(b"1")
    os.chmod(artifact / "sub" / "w.safetensors", 0o600)
    previous = os.umask(0o022)
    try:
        output.publish(artifact, tmp_path / "out", {"metrics.json": "{}"})
    finally:
        os.umask(previous)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "out" / "sub" / "w.safetensors").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "out" / "metrics.json").stat().st_mode & 0o777 == 0o644


def test_train_that_cannot_publish_keeps_the_finished_training_and_says_where(assets, tmp_path, monkeypatch, capsys):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(output.shutil, "copytree", full)
    out = tmp_path / "out"
    assert run_cli(*train_args(assets, out)) == 2
    err = capsys.readouterr().err
    (line,) = [x for x in err.strip().splitlines() if x.startswith("peftkit:")]  # in-process: progress bars too
    assert "No space left on device" in line and "nothing was left there" in line
    kept = output.Path(line.split("kept in ")[1].split(" (move")[0])
    assert (kept / "adapter_model.safetensors").exists() and (kept / "metrics.json").exists()
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out.partial")]
    shutil.rmtree(kept.parent)


def test_train_refuses_a_full_disk_before_training(assets, tmp_path, monkeypatch, capsys):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(output.shutil, "disk_usage", lambda path: usage(1 << 30, 1 << 30, 0))
    assert run_cli(*train_args(assets, tmp_path / "out")) == 2
    err = [x for x in capsys.readouterr().err.strip().splitlines() if x.startswith("peftkit:")]
    assert len(err) == 1 and "nothing was trained" in err[0]
    assert not (tmp_path / "out").exists()


def test_compare_on_a_full_disk_is_one_line(assets, tmp_path, monkeypatch, capsys):
    from peftkit import store

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "runs" / "x.json"))

    monkeypatch.setattr(store, "atomic_write_text", full)
    model, data = assets
    code = run_cli("compare", "--model", str(model), "--dataset", str(data), "-s", "head", "--epochs", "1",
                   "--max-length", "16", "--output", str(tmp_path / "out"))
    err = [x for x in capsys.readouterr().err.strip().splitlines() if x.startswith("peftkit:")]
    assert code == 2 and len(err) == 1 and "No space left on device" in err[0] and "free some space" in err[0]


def peftkit(*args):
    p = subprocess.run([sys.executable, "-m", "peftkit", *args], capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def test_a_sweep_in_which_no_run_finished_exits_non_zero_with_the_reasons(assets, tmp_path):
    model, data = assets
    code, stdout, stderr = peftkit("compare", "--model", str(model), "--dataset", str(data), "-s", "qlora",
                                   "--epochs", "1", "--max-length", "16", "--output", str(tmp_path / "out"))
    assert code == 2 and "unsupported" in stdout  # the table is still printed
    (line,) = stderr.strip().splitlines()
    assert "no run finished ok: 1 unsupported (e.g. qlora needs a CUDA GPU" in line


def test_a_model_without_weights_is_refused_before_the_store_is_written(assets, tmp_path):
    model, data = assets
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in model.iterdir():
        if not f.name.endswith(".safetensors"):
            shutil.copy(f, bare / f.name)
    for command in (["compare", "-s", "head"], ["train", "-s", "head"]):
        code, _, stderr = peftkit(*command, "--model", str(bare), "--dataset", str(data), "--output", str(tmp_path / "o"))
        assert code == 2 and "has a config but no weights" in stderr and len(stderr.strip().splitlines()) == 1
        assert not (tmp_path / "o").exists()
