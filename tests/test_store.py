import json

import pytest

from peftkit.errors import PeftkitError
from peftkit.store import ResultStore, atomic_write_text, flat_row


def test_write_is_atomic_and_never_overwrites(tmp_path):
    store = ResultStore(tmp_path)
    store.prepare({"model": "m"})
    store.write("lora__seed0__abc", {"run_info": {"config": {"strategy": "lora", "seed": 0}}, "train_info": {"status": "ok"}})
    assert store.has("lora__seed0__abc")
    with pytest.raises(PeftkitError):
        store.write("lora__seed0__abc", {})
    assert [flat_row(r)["strategy"] for r in store.records()] == ["lora"]
    assert not list(tmp_path.rglob("*.tmp"))


def test_refuses_a_different_configuration(tmp_path):
    ResultStore(tmp_path).prepare({"model": "a", "dataset": "d"})
    with pytest.raises(PeftkitError, match="different configuration.*model"):
        ResultStore(tmp_path).prepare({"model": "b", "dataset": "d"})
    ResultStore(tmp_path).prepare({"model": "a", "dataset": "d"})  # same: fine
    ResultStore(tmp_path).prepare({"model": "b", "dataset": "d"}, allow_mixed=True)


def test_leftover_temporary_files_are_cleaned_but_not_one_being_written(tmp_path):
    import os
    import time

    store = ResultStore(tmp_path)
    store.prepare({})
    dead, writing = store.runs_dir / ".x.json.tmp", store.runs_dir / ".y.json.tmp"
    dead.write_text("half")
    writing.write_text("half")  # another compare on this output writing a record now
    old = time.time() - 3600
    os.utime(dead, (old, old))
    store.prepare({})
    assert list(store.runs_dir.glob("*.tmp")) == [writing]


def test_unwritable_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PeftkitError, match="cannot write"):
        ResultStore(blocker / "out").prepare({})


def test_atomic_write_text(tmp_path):
    path = tmp_path / "a" / "b.json"
    atomic_write_text(path, json.dumps({"x": 1}))
    assert json.loads(path.read_text()) == {"x": 1}


def test_written_files_follow_the_umask(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
