"""Writing a command's output directory so that a failure never loses a finished training nor leaves half
an artifact: checked before training (writable, room for the artifact), written beside the output and
renamed into place when complete, and on failure removed, with the trained artifact kept where it was."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

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


def follow_umask(directory: Path) -> None:
    """mkdtemp makes 0700 and safetensors 0600: give the tree the modes the user's umask asks for."""
    from .store import current_umask

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
