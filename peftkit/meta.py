"""meta_info for every result: versions, git commit, hardware."""

from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the peftkit source tree, when it is a git checkout (with '+dirty' if modified)."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip()
        if not commit:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "peftkit"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"CPU: {line.split(':', 1)[1].strip()}"
    except OSError:
        pass
    return f"CPU: {platform.processor() or platform.machine()}"


def meta_info() -> dict:
    import torch

    from . import __version__

    return {
        "peftkit": __version__, "torch": torch.__version__, "transformers": _version("transformers"),
        "peft": _version("peft"), "datasets": _version("datasets"), "accelerate": _version("accelerate"),
        "python": platform.python_version(), "platform": platform.platform(), "git_commit": git_commit(),
        "device": device_name(), "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
    }
