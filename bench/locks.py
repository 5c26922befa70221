"""Per-cell locks for sweeps: a cell runs in one process at a time, whichever sweep or orphan owns it.

The lock is filelock's (an OS lock on <out>/locks/<stem>.lock: the kernel releases it when its holder dies, so a
kill -9 leaves no lock behind). Beside it, <stem>.owner names the sweep's (or run's) pid and the pid and start
time of the run process it started. A lock that can be taken while its owner file names a run process that is
still alive (an orphan of a killed sweep) is refused; an owner file whose run process is dead, or whose pid now
belongs to a process that started at another time (the pid was reused), is stale and taken over.

run: python -c "import os; from bench.locks import pid_alive; print(pid_alive(os.getpid()))"
"""

import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout


class CellBusy(Exception):
    """The cell is being run by another process; the message says which."""


def pid_alive(pid) -> bool:
    """A process with this pid exists on this machine and is not a zombie."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) runs nothing
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def process_start(pid) -> int | None:
    """When process `pid` started (clock ticks after boot, /proc/<pid>/stat field 22): with the pid, it names one
    process, where a pid alone is reused. None where /proc does not say."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def same_process(pid, start) -> bool:
    """Process `pid` is alive and, where its start time was recorded, is the one that started then."""
    return pid_alive(pid) and (start is None or process_start(pid) in (start, None))


def read_owner(path: Path) -> dict:
    try:
        owner = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}


class CellLock:
    """A held cell lock; `started(pid)` records the run process so a later sweep can see an orphan."""

    def __init__(self, owner_file: Path, stale: dict, by: str = "sweep"):
        self.owner_file, self.stale = owner_file, stale
        self.owner = {"pid": os.getpid(), "by": by, "host": socket.gethostname(), "since": time.time()}
        self._write()

    def started(self, child_pid: int) -> None:
        self.owner |= {"child": child_pid, "child_start": process_start(child_pid)}
        self._write()

    def _write(self) -> None:
        tmp = self.owner_file.with_name(f".{self.owner_file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.owner))
        tmp.replace(self.owner_file)


@contextmanager
def cell_lock(record_path: Path, by: str = "sweep"):
    """Hold the lock of the cell whose record is `record_path` for a `by` ("sweep" or "run"); CellBusy when
    another process runs it."""
    folder = record_path.parent / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / f"{record_path.stem}.lock", timeout=0)
    owner_file = folder / f"{record_path.stem}.owner"
    try:
        lock.acquire()
    except Timeout:
        owner = read_owner(owner_file)
        by = owner.get("by", "sweep")
        raise CellBusy(f"running in {by} pid {owner.get('pid', '?')} on {owner.get('host', '?')}") from None
    try:
        previous = read_owner(owner_file)
        here = previous.get("host") == socket.gethostname()
        if here and same_process(previous.get("child"), previous.get("child_start")):
            raise CellBusy(f"run process pid {previous['child']} of a stopped sweep is still running it")
        held = CellLock(owner_file, previous, by)
        try:
            yield held
        finally:
            owner_file.unlink(missing_ok=True)
    finally:
        lock.release()


@contextmanager
def run_lock(record_path: Path):
    """`bench run`'s own hold on its cell, so two runs of one config never share a work folder. Skipped where the
    caller already holds it (a sweep sets BENCH_CELL_LOCKED=1) and in DDP ranks that the first process started."""
    if os.environ.get("BENCH_CELL_LOCKED") == "1" or "LOCAL_RANK" in os.environ:
        yield
        return
    with cell_lock(record_path, by="run") as held:
        held.started(os.getpid())
        yield
