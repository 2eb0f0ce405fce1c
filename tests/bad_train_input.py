"""The check every bad-input test of `peftkit train` makes: one line on stderr naming the problem, exit
status 2, no traceback, and nothing written at the output."""

import subprocess
import sys


def train_failures(cases: dict, root) -> list[str]:
    """For {name: (train arguments without --output, words the line must hold)}, what went wrong per case."""
    failures = []
    for name, (args, words) in cases.items():
        out = root / name.replace(" ", "-")
        spec = [] if "-s" in args else ["-s", "head"]
        p = subprocess.run([sys.executable, "-m", "peftkit", "train", *spec, *map(str, args), "--output", str(out)],
                           capture_output=True, text=True, timeout=300)
        lines = [line for line in p.stderr.splitlines() if line.strip()]
        ok = (p.returncode == 2 and len(lines) == 1 and "Traceback" not in p.stderr
              and all(w.lower() in lines[0].lower() for w in words) and not out.exists())
        if not ok:
            failures.append(f"{name}: rc={p.returncode} exists={out.exists()} stderr={p.stderr.strip()[-300:]}")
    return failures
