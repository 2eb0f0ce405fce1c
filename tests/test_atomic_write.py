"""output's one atomic writer (atomic_path, atomic_write_text, atomic_write_bytes): a reader sees the old file or
the new one, never part of one; a failed write leaves neither a changed target nor a temporary file; the file
gets the mode the user's umask asks for, as open() would give it."""

import errno
import os
import stat

import pytest

from peftkit import demo, output, store
from peftkit.output import atomic_path, atomic_write_bytes, atomic_write_text


@pytest.fixture
def umask():
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def names(directory):
    return sorted(p.name for p in directory.iterdir())


def write_with_atomic_path(path, data):
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


WRITERS = {"text": lambda path, data: atomic_write_text(path, data.decode()),
           "bytes": atomic_write_bytes, "path": write_with_atomic_path}


@pytest.mark.parametrize("writer", WRITERS)
def test_writes_the_whole_file_and_its_directories(writer, tmp_path):
    path = tmp_path / "a" / "b" / "x.json"
    WRITERS[writer](path, b'{"x": 1}\n')
    assert path.read_bytes() == b'{"x": 1}\n' and names(path.parent) == ["x.json"]
    WRITERS[writer](path, b"second")  # an existing file is replaced
    assert path.read_bytes() == b"second" and names(path.parent) == ["x.json"]


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600)])
def test_the_mode_follows_the_umask(writer, mask, expected, tmp_path, umask):
    umask(mask)
    path = tmp_path / "x.txt"
    WRITERS[writer](path, b"x")
    assert mode(path) == expected
    os.chmod(path, 0o640)  # replacing a file gives the new one the umask's mode, not the old file's
    WRITERS[writer](path, b"y")
    assert mode(path) == expected


def test_a_failing_writer_leaves_the_target_and_no_temporary_file(tmp_path):
    path = tmp_path / "report.md"
    path.write_text("old")
    with pytest.raises(OSError, match="No space left"):
        with atomic_path(path) as tmp:
            tmp.write_text("half of the new")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert path.read_text() == "old" and names(tmp_path) == ["report.md"]


def test_an_interrupted_writer_leaves_no_temporary_file(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "plot.png") as tmp:
            tmp.write_bytes(b"\x89PNG")
            raise KeyboardInterrupt
    assert names(tmp_path) == []


def test_text_that_cannot_be_encoded_changes_nothing(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(path, "mean ± std", encoding="ascii")
    assert path.read_text() == "old" and names(tmp_path) == ["x.txt"]


@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_a_failing_fsync_or_rename_changes_nothing(step, tmp_path, monkeypatch):
    path = tmp_path / "x.json"
    path.write_text("old")

    def full(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(output.os, step, full)
    with pytest.raises(OSError, match="Input/output"):
        atomic_write_bytes(path, b"new")
    monkeypatch.undo()
    assert path.read_text() == "old" and names(tmp_path) == ["x.json"]


def test_the_temporary_file_is_hidden_beside_the_target_and_ends_in_tmp(tmp_path):
    """In the target's directory (so the rename is atomic), hidden, and named so that ResultStore.prepare's
    clean-up of ``.*.tmp`` leftovers finds what a killed process left."""
    with atomic_path(tmp_path / "runs" / "r.json") as tmp:
        assert tmp.parent == tmp_path / "runs" and tmp.exists() and tmp.stat().st_size == 0
        assert tmp.name.startswith(".r.json.") and tmp.name.endswith(".tmp")
        assert list((tmp_path / "runs").glob(".*.tmp")) == [tmp]
        tmp.write_text("{}")


def test_store_reexports_the_one_writer():
    assert store.atomic_write_text is output.atomic_write_text and store.current_umask is output.current_umask


def test_demo_rows_are_written_atomically_with_the_umask(tmp_path, umask):
    umask(0o077)
    path = demo.write_rows(tmp_path / "d" / "train.csv", [{"text": "a ± b", "label": "1"}])
    assert path.read_text(encoding="utf-8") == "text,label\na ± b,1\n" and mode(path) == 0o600

    def broken(rows):
        yield {"text": "first", "label": "0"}
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        demo.write_rows(path, broken(None))
    assert path.read_text(encoding="utf-8") == "text,label\na ± b,1\n" and names(path.parent) == ["train.csv"]


def test_every_report_file_follows_the_umask_and_leaves_no_temporary_file(tmp_path, umask):
    from peftkit.report import write_reports

    umask(0o077)
    rows = [{"strategy": "lora", "seed": 0, "status": "ok", "eval_accuracy": 0.8, "trainable_params": 10}]
    paths = write_reports(rows, tmp_path / "out")
    assert names(tmp_path / "out") == ["plot.png", "report.md", "results.csv", "results.json"]
    assert {p.name: mode(p) for p in paths.values()} == dict.fromkeys(names(tmp_path / "out"), 0o600)
