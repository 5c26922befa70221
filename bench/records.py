"""Run records: one JSON file per run, written atomically, named by the hash of the resolved config.

run: python -c "from bench.records import environment; print(environment())"
"""

import functools
import json
import os
import platform
import subprocess
import sys
from enum import Enum
from pathlib import Path

import pytorch_lightning as pl
import torch

ROOT = Path(__file__).resolve().parent.parent


class Status(str, Enum):
    """How a run ended; a str, so records keep plain strings in JSON and compare equal to them."""

    OK = "ok"  # trained, tested, its checkpoint in place
    DIVERGED = "diverged"  # stopped at a non-finite training loss; finished, with its history
    FAILED = "failed"  # an error; the reason (and traceback) are in the record
    INTERRUPTED = "interrupted"  # Ctrl-C or a stopped sweep; a resume reruns it

    def __str__(self) -> str:  # "ok", not "Status.OK", in f-strings on every Python
        return self.value


# Results: a sweep does not rerun them, and a failed attempt never replaces them.
FINISHED = (Status.OK, Status.DIVERGED)


def write_json(path: Path, data: dict) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half a record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    tmp.replace(path)


@functools.cache
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


def environment(device: str = "cpu", precision: str = "32", rnn_kernel: str = "onednn") -> dict:
    """Where a run ran: software versions, the device type it trained on (cpu, cuda, mps), the GPUs and their
    CUDA/cuDNN versions, the CPU's instruction set as torch detects it, the precision Lightning ran, the
    float32 matmul setting (TF32 or not) and the kernel behind the recurrent layer."""
    env = {
        "torch": torch.__version__,
        "lightning": pl.__version__,
        "python": platform.python_version(),
        "accelerator": device,
        "device": "cpu",
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_threads": torch.get_num_threads(),
        "precision": precision,
        "matmul_precision": torch.get_float32_matmul_precision(),
        "rnn_kernel": rnn_kernel,
        "git": git_revision(),
        "platform": platform.platform(),
    }
    if device == "cuda":
        env.update(
            device=f"cuda: {torch.cuda.get_device_name(0)}",
            gpu_count=torch.cuda.device_count(),
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            cudnn_tf32=torch.backends.cudnn.allow_tf32,
        )
    elif device == "mps":
        env["device"] = "mps"
    return env


def read_record(path: Path, warn: bool = True) -> dict | None:
    """A record, or None when absent; a truncated or non-JSON file is skipped with a warning naming it."""
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        if not isinstance(record, dict) or not isinstance(record.get("status"), str):
            raise ValueError("not a run record")
        if record["status"] == Status.OK and not isinstance(record.get("metrics"), dict):
            raise ValueError("an 'ok' record without its metrics")
        return record
    except (ValueError, UnicodeDecodeError) as e:
        if warn:
            print(f"warning: skipping unreadable record {path} ({e})", file=sys.stderr)
        return None
