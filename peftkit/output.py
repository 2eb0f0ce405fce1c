"""Writing what peftkit writes so that a failure never loses a finished training nor leaves half a file.

Files: every file peftkit writes goes through one primitive, ``atomic_path`` (and ``atomic_write_text`` /
``atomic_write_bytes`` on it): written to a temporary file in the target's directory, fsynced, given the mode
the user's umask asks for, and renamed over the target; on failure the temporary file is removed and the
target is left as it was. Directories: checked before training (writable, room for the artifact), written
beside the output and renamed into place when complete (``written_beside``), and on failure removed, with the
trained artifact kept where it was."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import PeftkitError

MARGIN = 1.2  # room to spare over the estimated artifact size
SLACK_BYTES = 4 << 20  # tokenizer files, metrics.json, filesystem rounding


def check_new_output(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PeftkitError(f"output directory {out} is not empty; pass a new --output (nothing is overwritten)")


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    if not path.is_dir():
        raise PeftkitError(f"cannot create {path}/...: {path} is a file; pass an --output inside a directory")
    return path


def check_writable(out: Path, needed_bytes: int) -> None:
    """Refuse, before any training, an output that cannot be written or has no room for ``needed_bytes``."""
    from .report import human_bytes

    check_new_output(out)
    where = _existing_ancestor(out.parent if not out.exists() else out)
    try:
        fd, probe = tempfile.mkstemp(dir=where, prefix=".peftkit-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise PeftkitError(f"cannot write to {where} ({e.strerror}): pass an --output in a directory you can "
                           "write; nothing was trained") from None
    need = int(needed_bytes * MARGIN) + SLACK_BYTES
    free = shutil.disk_usage(where).free
    if free < need:
        raise PeftkitError(f"{where} has {human_bytes(free)} free, and the artifact needs about {human_bytes(need)}: "
                           "free some space or pass another --output; nothing was trained")


def current_umask() -> int:
    """The process's umask (reading it means setting it: put straight back)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


def file_mode() -> int:
    """The mode of a new file as the user's umask asks for it (open() would give it; mkstemp gives 0600)."""
    return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a new, empty temporary file in ``path``'s directory for a writer that takes a file name
    (``fig.savefig(tmp, format=...)``, ``open(tmp, "w")``); when the block succeeds the file is fsynced, given
    the umask's mode and renamed over ``path`` (a reader sees the old file or the new one, never part of one);
    when it fails the temporary file is removed and ``path`` is untouched. Close the file before the block
    ends. The name is ``.<name>.<random>.tmp``: no extension, so give such writers the format."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)  # the data on disk before the rename makes it the file
        finally:
            os.close(fd)
        os.chmod(tmp, file_mode())  # mkstemp makes 0600: as readable as any file the user writes
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """``data`` at ``path``, whole or not at all (see atomic_path)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | Path, text: str, encoding: str | None = None) -> None:
    """``text`` at ``path``, whole or not at all (see atomic_path); ``encoding`` as open()'s."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding=encoding) as f:
        f.write(text)


def follow_umask(directory: Path) -> None:
    """mkdtemp makes 0700 and safetensors 0600: give the tree the modes the user's umask asks for."""
    umask = current_umask()
    for path in [directory, *directory.rglob("*")]:
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)


@contextlib.contextmanager
def written_beside(out: Path):
    """Yield a new directory beside ``out`` to fill; when the block succeeds it takes the umask's modes and is
    renamed to ``out``; when it fails it is removed, so that nothing is ever half-written at ``out``."""
    check_new_output(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    try:
        yield partial
        follow_umask(partial)  # mkdtemp makes 0700, safetensors 0600
        if out.exists():
            out.rmdir()
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def publish(artifact: Path, out: Path, files: dict[str, str]) -> None:
    """``artifact`` plus ``files`` (name -> text) at ``out``, whole or not at all; ``artifact`` is left untouched."""
    with written_beside(out) as partial:
        shutil.copytree(artifact, partial, dirs_exist_ok=True)
        for name, text in files.items():
            (partial / name).write_text(text)


def trainable_bytes(model) -> int:
    """What saving ``model``'s trained tensors takes (the artifact, without its tokenizer)."""
    return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
