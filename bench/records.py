"""Run records: one JSON file per run, written atomically, named by the hash of the resolved config.

run: python -c "from bench.records import environment; print(environment())"
"""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch

ROOT = Path(__file__).resolve().parent.parent


def write_json(path: Path, data: dict) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half a record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    tmp.replace(path)


def git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (rev + ("+dirty" if dirty else "")) if rev else "unknown"


def environment(accelerator: str = "cpu") -> dict:
    device = "cpu"
    if accelerator in ("gpu", "cuda") and torch.cuda.is_available():
        device = f"cuda: {torch.cuda.get_device_name(0)}"
    return {
        "torch": torch.__version__,
        "lightning": pl.__version__,
        "python": platform.python_version(),
        "device": device,
        "cpu_threads": torch.get_num_threads(),
        "git": git_revision(),
        "platform": platform.platform(),
    }


def read_record(path: Path, warn: bool = True) -> dict | None:
    """A record, or None when absent; a truncated or non-JSON file is skipped with a warning naming it."""
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        if not isinstance(record, dict) or not isinstance(record.get("status"), str):
            raise ValueError("not a run record")
        if record["status"] == "ok" and not isinstance(record.get("metrics"), dict):
            raise ValueError("an 'ok' record without its metrics")
        return record
    except (ValueError, UnicodeDecodeError) as e:
        if warn:
            print(f"warning: skipping unreadable record {path} ({e})", file=sys.stderr)
        return None
