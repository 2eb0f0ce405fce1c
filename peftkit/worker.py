"""Runs one (strategy, seed) in its own process: ``python -m peftkit.worker CONFIG.json RESULT.json``.

A fresh process per run gives each run its own peak memory, and a crash or an out-of-memory kill
loses only that run. Progress goes to stdout as ``@@peftkit-progress STEP TOTAL`` lines; the outcome
(train_info with a status) goes to RESULT.json.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
import warnings
from pathlib import Path

PROGRESS = "@@peftkit-progress"


def print_progress(step: int, total: int) -> None:
    print(f"{PROGRESS} {step} {total}", flush=True)


def outcome(config_dict: dict, progress=print_progress) -> dict:
    """Run one config and return its train_info; every failure becomes a status and a reason."""
    import torch

    from .errors import PeftkitError, UnsupportedError
    from .training import Diverged, RunConfig, run_in_temp_dir

    try:
        return run_in_temp_dir(RunConfig.from_dict(config_dict), progress)
    except UnsupportedError as e:
        return {"status": "unsupported", "error": e.reason}
    except Diverged as e:
        return {"status": "diverged", "error": str(e)}
    except (torch.OutOfMemoryError, MemoryError) as e:
        return {"status": "failed", "error": f"out of memory: {str(e).splitlines()[0] if str(e) else type(e).__name__}"}
    except PeftkitError as e:
        return {"status": "failed", "error": str(e)}
    except Exception as e:  # any other crash of this run becomes a failed row; the sweep goes on
        traceback.print_exc()
        if "can't allocate memory" in str(e) or "out of memory" in str(e).lower():  # CPU allocator failures
            return {"status": "failed", "error": f"out of memory: {str(e).strip().splitlines()[0][:200]}"}
        return {"status": "failed", "error": f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"}


def main(argv: list[str]) -> int:
    config_path, result_path = Path(argv[0]), Path(argv[1])
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore")
    result = outcome(json.loads(config_path.read_text()))
    tmp = result_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, default=str))
    os.replace(tmp, result_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
