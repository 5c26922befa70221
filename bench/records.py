"""Run records: the `Record` type that the runner writes and the CLI, sweep, table (so report and board) and
generate read; one JSON file per run, written atomically, named by the hash of the resolved config.

run: python -c "from bench.records import environment; print(environment())"
"""

import dataclasses
import functools
import importlib.metadata
import json
import math
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from bench.config import RunConfig, config_hash

ROOT = Path(__file__).resolve().parent.parent


class Status(StrEnum):
    """How a run ended; a str, so records keep plain strings in JSON and compare equal to them."""

    OK = "ok"  # trained, tested, its checkpoint in place
    DIVERGED = "diverged"  # stopped at a non-finite training loss; finished, with its history
    FAILED = "failed"  # an error; the reason (and traceback) are in the record
    INTERRUPTED = "interrupted"  # Ctrl-C or a stopped sweep; a resume reruns it


# Results: a sweep does not rerun them, and a failed attempt never replaces them.
FINISHED = (Status.OK, Status.DIVERGED)


@dataclass
class Record:
    """One run: what ran (identity and config), how it ended (status, reason), and what it measured. Tasks add
    their own section (`extras`: samples, plots); records written before it existed, with those keys at the top
    level, read into `extras` too. Status, primary metric and direction travel with the record, so a table
    reads them from the runs, not from the code of today."""

    status: Status = Status.FAILED
    task: str = ""
    dataset: str = ""
    model: str = ""
    clip: str = ""
    seed: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    hash: str = ""
    primary_metric: str = ""  # empty only in the stand-in that an older sweep wrote for a killed run
    higher_is_better: bool = True
    reason: str = ""
    metrics: dict[str, float] = field(default_factory=dict)  # val/ of the best epoch, test/ after testing
    matrices: dict[str, Any] = field(default_factory=dict)  # non-scalar test results (confusion matrix)
    env: dict[str, Any] = field(default_factory=dict)  # bench.records.environment()
    params: int | None = None
    data: dict[str, int] = field(default_factory=dict)  # split sizes
    epochs: int = 0
    best_epoch: int | None = None
    history: list[dict] = field(default_factory=list)  # one row per epoch
    grad_summary: dict[str, float] = field(default_factory=dict)  # bench.diagnostics
    grad_profile: list[float] = field(default_factory=list)  # gradient norm per time step, from the end
    grad_profile_png: str | None = None
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)  # what the task adds (Task.extras), rank 0 only
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None  # of best.ckpt as the run left it: generate refuses a changed file
    diverged_step: int | None = None
    traceback: str | None = None
    wall_time_s: float | None = None
    steps: int = 0
    steps_per_s: float | None = None
    world_size: int = 1
    global_batch_size: int | None = None
    wandb: str | None = None  # the W&B run's local folder
    summary_errors: dict[str, str] = field(default_factory=dict)  # a summary that failed, and why

    @classmethod
    def start(cls, cfg, task) -> "Record":
        """A new run's record: failed until it is shown otherwise."""
        return cls(
            task=cfg.task,
            dataset=cfg.dataset,
            model=cfg.model,
            clip=cfg.clip,
            seed=cfg.seed,
            config=dataclasses.asdict(cfg),
            hash=config_hash(cfg),
            primary_metric=task.primary_metric,
            higher_is_better=task.higher_is_better,
            global_batch_size=cfg.batch_size,
            world_size=cfg.world_size,
        )

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def problem(self, cfg) -> str:
        """Why this finished record cannot stand for config `cfg` ('' when it can): its hash is another config's,
        or an 'ok' run's primary test metric is not a number (an edited or damaged file)."""
        if self.hash and self.hash != config_hash(cfg):
            return f"its hash {self.hash!r} is not its config's {config_hash(cfg)}"
        key = f"test/{self.primary_metric}"
        value = self.metrics.get(key) if isinstance(self.metrics, dict) else None
        if self.status == Status.OK and self.primary_metric:
            if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
                return f"its primary metric {key} is {str(value)[:40]!r}, not a number"
        return ""

    def to_json(self) -> dict:
        """The record as JSON: what a run did not produce (no checkpoint, no traceback, no error) is left out."""
        data = {k: v for k, v in dataclasses.asdict(self).items() if v is not None and v != {} or k in KEPT}
        return data | {"status": Status(self.status).value}

    @classmethod
    def from_json(cls, data: dict) -> "Record":
        """A record from its JSON; raises ValueError when it is not one. Older records read too: task keys at
        the top level go to `extras`, and the stand-in an older sweep wrote for a killed run (status, reason,
        task, config) takes its identity from its config."""
        if not isinstance(data, dict) or data.get("status") not in set(Status):
            raise ValueError("not a run record (no valid status)")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        config = data.get("config") if isinstance(data.get("config"), dict) else {}
        known = {k: config[k] for k in ("dataset", "model", "clip", "seed") if k in config}
        for k, v in data.items():  # null where a value is expected: the field's default
            if k in fields and (v is not None or fields[k].default is None):
                known[k] = v
        record = cls(**known)
        record.status = Status(record.status)
        extras = {k: v for k, v in data.items() if k not in fields}  # a record from before the extras section
        record.extras = {**extras, **(record.extras if isinstance(record.extras, dict) else {})}
        if record.status == Status.OK and not isinstance(data.get("metrics"), dict):
            raise ValueError("an 'ok' record without its metrics")
        return record


KEPT = ("metrics", "env", "config", "extras", "reason")  # written even when empty, as records always had them


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
    import torch  # here: reading records needs none of it

    env = {
        "torch": torch.__version__,
        "lightning": importlib.metadata.version("pytorch-lightning"),  # not imported: readers need none of it
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


def read_record(path: Path, warn: bool = True) -> Record | None:
    """A record, or None when absent; a truncated or non-JSON file is skipped with a warning naming it."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError("not a run record")
        return Record.from_json(data)
    except (ValueError, TypeError, UnicodeDecodeError) as e:
        if warn:
            print(f"warning: skipping unreadable record {path} ({e})", file=sys.stderr)
        return None


def record_paths(cfg: RunConfig) -> tuple[Path, Path]:
    """(record file, run folder for checkpoint and plots), both named by the config hash."""
    task, dataset, model = (
        re.sub(r"[^A-Za-z0-9_.-]+", "_", n)[:40] for n in (cfg.task, cfg.dataset, cfg.model)
    )
    stem = f"{task}-{dataset}-{model}-{config_hash(cfg)}"  # plugin names hold ':' and '/': one file name
    return Path(cfg.out) / f"{stem}.json", Path(cfg.out) / stem
