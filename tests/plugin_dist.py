"""A strategy plugin made at test time: a module and a dist-info with its entry points, in a folder that a
process (a worker, a Ray node) finds on its PYTHONPATH."""

from pathlib import Path


def write_plugin(folder: Path, module: str, source: str, strategies: dict[str, str]) -> Path:
    """``folder`` holding ``module``.py (``source``) registered as the strategies ``{name: class name}``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(source)
    dist = folder / f"{module}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[peftkit.strategies]\n" + "".join(
        f"{name} = {module}:{cls}\n" for name, cls in strategies.items()))
    return folder
