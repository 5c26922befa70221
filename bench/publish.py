"""Put a finished run's record and folder in place together; never let an unfinished attempt destroy a result.

A run trains into a hidden work folder beside its run folder (`.<stem>.partial`). Only a finished run (`ok` or
`diverged`) replaces the old folder and record, and only at its end, so a rerun that is killed, fails or is
interrupted leaves the previous record and the checkpoint it describes untouched. An unfinished attempt whose
config already has a finished record is written beside it as `<stem>.attempt.json`.

run: python -c "from bench.publish import attempt_path; from pathlib import Path; print(attempt_path(Path('r.json')))"
"""

import os
import shutil
from pathlib import Path

from bench.records import Record, read_record, write_json


def work_dir(run_dir: Path) -> Path:
    """Where a run trains; the same name on every DDP rank (they must agree on the checkpoint's path)."""
    return run_dir.with_name(f".{run_dir.name}.partial")


def attempt_path(record_path: Path) -> Path:
    """Where an unfinished attempt goes when its config already has a finished record."""
    return record_path.with_name(f"{record_path.stem}.attempt.json")


def _rebase(value, old: str, new: str):
    """`value` with every string that starts with the folder `old` moved to `new` (paths in the record)."""
    if isinstance(value, str) and (value == old or value.startswith(old + os.sep)):
        return new + value[len(old) :]
    if isinstance(value, dict):
        return {k: _rebase(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_rebase(v, old, new) for v in value]
    return value


def publish(record: Record, record_path: Path, run_dir: Path) -> tuple[Record, Path]:
    """Write the record where it belongs; returns (the record as written, its path)."""
    work = work_dir(run_dir)
    if record.finished:
        moved = _rebase(record.to_json(), str(work), str(run_dir))  # as the config named it
        moved = _rebase(moved, os.path.realpath(work), os.path.realpath(run_dir))  # as Lightning resolved it
        record = Record.from_json(moved)
        old = run_dir.with_name(f".{run_dir.name}.old-{os.getpid()}")
        if run_dir.exists():
            run_dir.rename(old)
        if work.exists():
            work.rename(run_dir)
        write_json(record_path, record.to_json())
        shutil.rmtree(old, ignore_errors=True)
        return record, record_path
    shutil.rmtree(work, ignore_errors=True)  # an unfinished attempt's checkpoint describes nothing
    record.checkpoint = record.checkpoint_sha256 = record.grad_profile_png = None
    return record, write_unfinished(record, record_path)


def write_unfinished(record: Record, record_path: Path) -> Path:
    """Write a failed or interrupted attempt: in place, or beside a finished record that it must not replace."""
    existing = read_record(record_path, warn=False)
    path = attempt_path(record_path) if existing and existing.finished else record_path
    write_json(path, record.to_json())
    return path
