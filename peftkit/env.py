"""``peftkit env``: what to paste into a bug report.

Versions (peftkit and its git commit, Python, platform, torch and device, the Hugging Face stack), whether
they match the tested lock (``constraints.txt`` of a source checkout), the strategy plugins, and a
seconds-long check of every registered strategy on a tiny random model of every supported family.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import textwrap
import time
import warnings
from importlib.metadata import distributions, entry_points
from pathlib import Path

from .errors import UnsupportedError
from .meta import _version, meta_info

PACKAGES = ("transformers", "peft", "accelerate", "datasets", "bitsandbytes")
LOCK_FILE = "constraints.txt"
STATUSES = ("ok", "unsupported", "broken")
WIDTH = 80

# -- versions ---------------------------------------------------------------------------------


def versions() -> dict:
    """meta_info (peftkit, git commit, Python, platform, torch, CUDA, device...) plus bitsandbytes."""
    return {**meta_info(), **{p: _version(p) for p in PACKAGES}}


# -- the lock ---------------------------------------------------------------------------------


def normalize(name: str) -> str:
    """A distribution name as pip compares them (PEP 503): case, '-', '_' and '.' do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _public(version: str) -> str:
    return version.split("+", 1)[0]  # torch 2.13.0+cpu is torch 2.13.0


def _same(installed: str, locked: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(_public(installed)) == Version(_public(locked))
    except InvalidVersion:
        return _public(installed) == _public(locked)


def lock_path() -> Path:
    """constraints.txt at the root of the source checkout this peftkit runs from (absent when installed)."""
    import peftkit

    return Path(peftkit.__file__).resolve().parents[1] / LOCK_FILE


def read_lock(path: Path) -> dict[str, tuple[str, str]]:
    """{normalized name: (name, version)} from `name==version` lines; comments and other lines skipped."""
    pins = {}
    for line in Path(path).read_text().splitlines():
        requirement = line.split("#", 1)[0].split(";", 1)[0].strip()
        name, eq, version = requirement.partition("==")
        if eq and name.strip() and version.strip():
            pins[normalize(name.strip())] = (name.strip(), version.strip())
    return pins


def installed_versions() -> dict[str, str]:
    """{normalized name: version} of the installed distributions (the first on the path wins, as for imports)."""
    found: dict[str, str] = {}
    for dist in distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(normalize(name), dist.version)
    return found


def compare_lock(path: Path | None = None, installed: dict[str, str] | None = None) -> dict:
    """Every package of the lock that is installed, against its pinned version."""
    path = Path(path) if path is not None else lock_path()
    if not path.is_file():
        return {"path": None, "status": "missing", "compared": 0, "differences": [], "not_installed": []}
    installed = installed_versions() if installed is None else installed
    pins = read_lock(path)
    present = [key for key in pins if key in installed]
    differences = [{"package": pins[key][0], "installed": installed[key], "lock": pins[key][1]}
                   for key in present if not _same(installed[key], pins[key][1])]
    return {"path": str(path), "status": "differs" if differences else "matches", "compared": len(present),
            "differences": differences, "not_installed": [pins[key][0] for key in pins if key not in installed]}


# -- strategy plugins -------------------------------------------------------------------------


def plugins() -> list[dict]:
    """The entry points of the peftkit.strategies group and whether each loads."""
    from .registry import ENTRY_POINT_GROUP

    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            with silenced():
                ep.load()
            found.append({"name": ep.name, "value": ep.value, "status": "ok", "error": None})
        except Exception as e:  # reported, as the registry skips it
            found.append({"name": ep.name, "value": ep.value, "status": "broken", "error": _error(e)})
    return found


# -- the check --------------------------------------------------------------------------------


def families() -> list[tuple[str, str]]:
    """(family name, model_type) of every supported architecture, from peftkit/architectures.py."""
    from .architectures import ARCHITECTURES

    return [(spec.name, spec.model_types[0]) for spec in ARCHITECTURES]


def _error(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__


def _train_step(strategy_name: str, model_type: str, task: str | None = None) -> str | None:
    """Apply, one forward and backward on a tiny batch of ``task``; what is wrong, or None."""
    import torch

    from .registry import get_strategy
    from .tiny import batch, tiny_model

    model = get_strategy(strategy_name).apply(tiny_model(model_type, task=task))
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        return "no trainable parameter after apply"
    loss = model(**batch(model_type, task=task)).loss
    if not torch.isfinite(loss).all():
        return f"non-finite loss ({loss.item()})"
    loss.backward()
    if all(p.grad is None for p in trainable):
        return "no trainable parameter got a gradient"
    return None


def check_pair(strategy_name: str, family: str, model_type: str) -> dict:
    """{strategy, family, model_type, status, reason}: ok, unsupported (UnsupportedError) or broken, on the
    model of every task (a reason names the task it failed on)."""
    from .tasks import TASKS

    row = {"strategy": strategy_name, "family": family, "model_type": model_type}
    for task in TASKS:
        try:
            problem = _train_step(strategy_name, model_type, task)
        except UnsupportedError as e:
            return {**row, "status": "unsupported", "reason": e.reason}
        except Exception as e:
            return {**row, "status": "broken", "reason": f"{task}: {_error(e)}"}
        if problem:
            return {**row, "status": "broken", "reason": f"{task}: {problem}"}
    return {**row, "status": "ok", "reason": None}


@contextlib.contextmanager
def silenced():
    """No warnings, log lines or stray prints, and the caller's torch RNG state kept."""
    import torch

    previous = logging.root.manager.disable
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
            torch.random.fork_rng(devices=[]):
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(previous)


@contextlib.contextmanager
def one_thread():
    """torch on one CPU thread: on a busy machine tiny ops with several threads spend most of their time
    waiting on each other (the whole check took 15 s on two threads, 1 s on one, on a loaded 2-core CPU)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def run_checks(strategies: list[str] | None = None, model_types: list[str] | None = None) -> list[dict]:
    """check_pair for every registered strategy (plugins included) x every supported family, on CPU."""
    from .registry import list_strategies

    with silenced(), one_thread():
        names = list_strategies() if strategies is None else strategies
        chosen = [f for f in families() if model_types is None or f[1] in model_types]
        return [check_pair(name, family, model_type) for name in names for family, model_type in chosen]


def summarize(checks: list[dict], seconds: float | None = None) -> dict:
    counts = {status: sum(c["status"] == status for c in checks) for status in STATUSES}
    return {"pairs": len(checks), **counts, "seconds": seconds}


def unavailable() -> list[dict]:
    """[{strategy, reason}] for the strategies that cannot run on this machine at all (qlora without CUDA):
    they are listed once instead of filling a row of the check with the same refusal."""
    from .registry import get_strategy, list_strategies

    found = [(name, get_strategy(name).unavailable_here()) for name in list_strategies()]
    return [{"strategy": name, "reason": reason} for name, reason in found if reason]


def collect(check: bool = True) -> dict:
    """The whole report: versions, lock, plugins and (unless check=False) the check with its summary."""
    report = {"versions": versions(), "lock": compare_lock(), "plugins": plugins(), "unavailable": unavailable(),
              "checks": None, "summary": None}
    if check:
        from .registry import list_strategies

        skipped = {u["strategy"] for u in report["unavailable"]}
        start = time.perf_counter()
        report["checks"] = run_checks([name for name in list_strategies() if name not in skipped])
        report["summary"] = summarize(report["checks"], round(time.perf_counter() - start, 1))
    return report


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2) + "\n"


# -- text -------------------------------------------------------------------------------------

CELLS = {"ok": "ok", "unsupported": "unsup", "broken": "broken"}


def _item(label: str, value: str, width: int = WIDTH) -> str:
    return textwrap.fill(f"- {label}: {value}", width, subsequent_indent="    ", break_on_hyphens=False,
                         break_long_words=False)


def _or_absent(value: str | None) -> str:
    return value if value else "not installed"


def _lock_text(lock: dict) -> str:
    if lock["status"] == "missing":
        return f"no {LOCK_FILE} next to the package (not a source checkout)"
    if lock["status"] == "matches":
        return f"matches the lock ({lock['path']}, {lock['compared']} installed packages compared)"
    return ", ".join(f"{d['package']} {d['installed']} (lock {d['lock']})" for d in lock["differences"])


def _version_lines(v: dict, lock: dict, found_plugins: list[dict]) -> list[str]:
    torch_build = f"CUDA {v['cuda']}" if v.get("cuda") else "CPU"
    items = [("peftkit", v["peftkit"]), ("git commit", v["git_commit"] or "not a git checkout"),
             ("Python", v["python"]), ("platform", v["platform"]), ("torch", f"{v['torch']} ({torch_build})"),
             ("device", f"{v['device']} ({v['cpu_count']} CPU cores, {v['torch_threads']} torch threads)"),
             *((p, _or_absent(v[p])) for p in PACKAGES), ("lock", _lock_text(lock)),
             ("strategy plugins", ", ".join(f"{p['name']} ({p['status']})" for p in found_plugins) or "none")]
    lines = [_item(label, str(value)) for label, value in items]
    lines += [_item(f"plugin {p['name']}", f"{p['value']}: {p['error']}") for p in found_plugins if p["error"]]
    return lines


def _blocks(header: list[str], rows: list[list[str]], width: int) -> list[str]:
    """A plain-text table, one space between columns; columns that do not fit `width` go to a next block
    (the first column repeated), so nothing is cut."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    groups, current = [], []
    for i in range(1, len(header)):
        if current and widths[0] + sum(widths[j] + 1 for j in [*current, i]) > width:
            groups.append(current)
            current = []
        current.append(i)
    lines = []
    for group in [*groups, current]:
        for r in [header, *rows]:
            lines.append(" ".join(r[i].ljust(widths[i]) for i in [0, *group]).rstrip())
        lines.append("")
    return lines[:-1]


def _table_lines(checks: list[dict], width: int) -> list[str]:
    names = list(dict.fromkeys(c["family"] for c in checks))
    cells: dict[str, dict[str, str]] = {}
    for c in checks:
        cells.setdefault(c["strategy"], {})[c["family"]] = CELLS[c["status"]]
    rows = [[strategy, *(by_family.get(f, "") for f in names)] for strategy, by_family in cells.items()]
    return _blocks(["", *names], rows, width)


def _reason_lines(checks: list[dict], width: int) -> list[str]:
    """Each (status, strategy, reason) once, with the families it applies to."""
    everywhere = set(c["family"] for c in checks)
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for c in checks:
        if c["status"] != "ok":
            grouped.setdefault((c["status"], c["strategy"], c["reason"]), []).append(c["family"])
    lines = []
    for status in STATUSES[1:]:
        entries = [(s, r, f) for (st, s, r), f in grouped.items() if st == status]
        if entries:
            lines.append(f"{status}:")
        for strategy, reason, found in entries:
            where = "every family" if set(found) == everywhere and len(everywhere) > 1 else ", ".join(found)
            lines.append(_item(f"{strategy} on {where}", reason, width))
    return lines


def _unavailable_lines(report: dict, width: int) -> list[str]:
    entries = report.get("unavailable") or []
    return (["not checked on this machine:"] if entries else []) + [
        _item(u["strategy"], u["reason"], width) for u in entries]


def summary_line(summary: dict) -> str:
    took = f" in {summary['seconds']:g} s" if summary.get("seconds") is not None else ""
    return (f"{summary['ok']} of {summary['pairs']} pairs ok, {summary['unsupported']} unsupported, "
            f"{summary['broken']} broken{took}")


def to_text(report: dict, width: int = WIDTH) -> str:
    lines = ["peftkit env (paste this into a bug report)", "",
             *_version_lines(report["versions"], report["lock"], report["plugins"])]
    if report["checks"] is not None:
        intro = ("check: every strategy on a tiny random model of every family, one forward and backward "
                 f"on CPU ({CELLS['unsupported']} = unsupported):")
        lines += ["", textwrap.fill(intro, width), "", *_table_lines(report["checks"], width), "",
                  *_reason_lines(report["checks"], width), *_unavailable_lines(report, width),
                  summary_line(report["summary"])]
    return "\n".join(lines) + "\n"
