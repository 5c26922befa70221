"""Run every cell of a suite that has no finished record: resumable, N processes at once, one progress bar.

Each cell runs as its own process, `bench run --config <cell.yaml>` forked from a warm server that has imported
torch, Lightning and the tasks once (bench.worker; `--cold`: a new interpreter per cell); a crash cannot take
the sweep down; its output goes to <out>/logs/. On a machine with GPUs, process slot i sees only GPU i mod count.
A cell runs under its lock (bench.locks), its process dies with the sweep, and Ctrl-C records the running cells
as interrupted; logs/sweep.log says when each cell started and how it ended.

run: python -m bench sweep ci --jobs 2
"""

import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
import yaml
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bench import tasks
from bench.hardware import usable_cores
from bench.locks import CellBusy, cell_lock
from bench.publish import write_unfinished
from bench.records import FINISHED, Record, Status, read_record, record_paths
from bench.suites import Cell, Suite

_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the sweep after its running cells were recorded as interrupted; carries the counts."""

    def __init__(self, counts: dict):
        super().__init__(Status.INTERRUPTED)
        self.counts = counts


class Control:
    """What the sweep's threads share: the stop flag, the running processes, and the sweep log."""

    def __init__(self, journal: Path | None = None, warm: bool = True):
        self.warm = warm  # run cells in children of the warm fork server (bench.worker), not new interpreters
        self.stop = threading.Event()
        self.procs: dict[int, int] = {}  # slot thread -> the pid of the run process it waits for
        self.journal = journal
        self._lock = threading.Lock()

    def note(self, text: str) -> None:
        if self.journal is not None:
            with self._lock, open(self.journal, "a") as f:
                f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")

    def signal(self, sig: int) -> None:
        for pid in list(self.procs.values()):
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, OSError):
                pass


def _tail(path: Path, size: int = 4096) -> list[str]:
    """The last lines of a cell's log (at most `size` bytes of it)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - size))
            return f.read().decode(errors="replace").splitlines()
    except OSError:
        return []


def _die_with_parent() -> None:
    """In a cold run process before exec: SIGTERM when the sweep dies, so a kill -9 of a sweep leaves no orphan.
    (Linux's parent-death signal follows the thread that started the process: it lives until the run ends.)"""
    _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def pending_cells(suite: Suite, retry_failed: bool = False) -> list[Cell]:
    """Cells without a finished record; failed ones only when asked. A duplicate config runs once."""
    todo, seen = [], set()
    for cell in suite.cells:
        path = record_paths(cell.cfg)[0]
        record = read_record(path, warn=False)
        status = record.status if record else None
        if record is None and path.is_file() and path not in seen:
            print(f"note: rerunning {path.name}: the record is unreadable", file=sys.stderr)
        elif status in FINISHED and (why := record.problem(cell.cfg)) and path not in seen:
            print(f"note: rerunning {path.name}: {why}", file=sys.stderr)
            status = None
        if path in seen or status in FINISHED or (status == Status.FAILED and not retry_failed):
            continue
        seen.add(path)
        todo.append(cell)
    return todo


def failed_cells(suite: Suite) -> list[Path]:
    """Records of the suite whose status is failed (each config once)."""
    paths = dict.fromkeys(record_paths(c.cfg)[0] for c in suite.cells)
    return [p for p in paths if (r := read_record(p, warn=False)) and r.status == Status.FAILED]


def device_slots(jobs: int, gpu_count: int) -> list[str | None]:
    """CUDA_VISIBLE_DEVICES for each process slot: one GPU per slot, round-robin, so slots share a GPU when
    jobs outnumber GPUs; None on a CPU-only machine."""
    return [str(i % gpu_count) if gpu_count else None for i in range(jobs)]


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def run_cell(cell: Cell, slot: str | None, threads: int, extra: dict, ctl: Control | None = None) -> str:
    """Run one cell under its lock; returns its status, 'skipped' (finished meanwhile by another sweep),
    'busy' (another process runs it) or 'not started' (the sweep was stopped first)."""
    ctl = ctl or Control()
    record_path, _ = record_paths(cell.cfg)
    logs = Path(cell.cfg.out) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        with cell_lock(record_path) as held:
            record = read_record(record_path, warn=False)
            if record and record.finished:
                return "skipped"
            if ctl.stop.is_set():
                return "not started"
            return _run_locked(cell, slot, threads, extra, ctl, held, logs)
    except CellBusy as e:
        ctl.note(f"busy {record_path.stem}: {e}")
        return "busy"


def _run_locked(cell: Cell, slot, threads: int, extra: dict, ctl: Control, held, logs: Path) -> str:
    record_path, _ = record_paths(cell.cfg)
    cell_file = logs / f"{record_path.stem}.yaml"
    overrides = {"threads": threads, **cell.overrides, **extra}
    cell_file.write_text(yaml.safe_dump(overrides, sort_keys=True))
    env = {**os.environ, "BENCH_CELL_LOCKED": "1"}  # this sweep holds the cell's lock for the run
    if slot is not None:
        env["CUDA_VISIBLE_DEVICES"] = slot
    before, key = _mtime(record_path), threading.get_ident()
    log_path = logs / f"{record_path.stem}.log"
    warm = ctl.warm and cell.cfg.world_size == 1
    if warm:
        from bench import worker

        proc = worker.context().Process(
            target=worker.run_cell, args=(str(cell_file), str(log_path), env, os.getpid())
        )
        proc.start()
        wait = proc.join
    else:  # cold: a new interpreter (also for DDP, whose launcher re-executes the command line)
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench", "run", "--config", str(cell_file)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # Ctrl-C reaches the sweep alone, which stops its cells in order
                preexec_fn=_die_with_parent if _LIBC is not None else None,
            )
        wait = proc.wait
    ctl.procs[key] = proc.pid
    held.started(proc.pid)
    ctl.note(f"start {record_path.stem} pid {proc.pid}{' (warm)' if warm else ''}")
    try:
        wait()
    finally:
        ctl.procs.pop(key, None)
    code = proc.exitcode if warm else proc.returncode
    record = read_record(record_path, warn=False) if _mtime(record_path) != before else None
    if record is None:  # killed before it could write: record it so the table shows it and a resume knows
        stopped = ctl.stop.is_set() or code in (130, -signal.SIGINT, -signal.SIGTERM)
        record = Record.start(cell.cfg, tasks.get(cell.cfg.task))
        record.status = Status.INTERRUPTED if stopped else Status.FAILED
        said = [line for line in _tail(log_path) if line.startswith("error: ")]  # bad input: its one line
        record.reason = (
            said[-1].removeprefix("error: ")
            if code == 2 and said
            else f"run process exited with code {code} and wrote no record; see {log_path}"
        )
        write_unfinished(record, record_path)
    ctl.note(f"end {record_path.stem} {record.status} (exit {code})")
    return record.status


def sweep(
    suite: Suite, jobs: int = 1, retry_failed: bool = False, wandb: bool = False, warm: bool = True
) -> dict[str, int]:
    """Run the pending cells; returns a count per status (including cells that were already done).

    Ctrl-C stops the running cells (recorded as interrupted, rerun on resume) and raises SweepInterrupted."""
    todo = pending_cells(suite, retry_failed)
    counts = {"skipped": len(suite.cells) - len(todo)}
    threads = int(suite.cells[0].overrides.get("threads", 0)) or max(1, usable_cores()[0] // jobs)
    slots: queue.Queue = queue.Queue()
    for slot in device_slots(jobs, torch.cuda.device_count()):
        slots.put(slot)
    extra = {"wandb": True, "wandb_project": f"seqbench-{suite.name}"} if wandb else {}
    (Path(suite.cells[0].cfg.out) / "logs").mkdir(parents=True, exist_ok=True)
    ctl = Control(Path(suite.cells[0].cfg.out) / "logs" / "sweep.log", warm)
    running: dict[int, str] = {}
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    start = time.perf_counter()
    with Progress(*columns, transient=False) as progress:
        bar = progress.add_task(f"{suite.name}", total=len(todo))

        def work(i: int, cell: Cell) -> None:
            slot = slots.get()
            running[i] = f"{cell.row} {cell.col} seed {cell.cfg.seed}"
            progress.update(bar, description=f"{suite.name}: {' | '.join(running.values())}")
            try:
                status = run_cell(cell, slot, threads, extra, ctl)
            finally:
                slots.put(slot)
                running.pop(i, None)
            counts[status] = counts.get(status, 0) + 1
            progress.update(bar, advance=1, description=f"{suite.name}: {' | '.join(running.values())}")

        pool = ThreadPoolExecutor(max_workers=jobs)
        futures = [pool.submit(work, i, cell) for i, cell in enumerate(todo)]
        try:
            for future in futures:
                future.result()
        except KeyboardInterrupt:
            ctl.stop.set()
            ctl.note("interrupted: stopping the running cells")
            ctl.signal(signal.SIGINT)  # each run records itself as interrupted
            _drain(pool, ctl)
            counts["wall_time_s"] = round(time.perf_counter() - start, 1)
            raise SweepInterrupted(counts) from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    counts["wall_time_s"] = round(time.perf_counter() - start, 1)
    return counts


def _drain(pool: ThreadPoolExecutor, ctl: Control) -> None:
    """Wait for the stopped cells to write their records; a second Ctrl-C kills them."""
    while True:
        try:
            pool.shutdown(wait=True, cancel_futures=True)
            return
        except KeyboardInterrupt:
            ctl.signal(signal.SIGKILL)


def wandb_sweep(suite: Suite, name: str) -> str:
    """Write a W&B grid sweep over the suite's cells; each agent, on any machine with this repository and the
    data, runs `bench sweep NAME --wandb --cell K`. Created on the W&B server when logged in."""
    from bench.tracking import wandb_mode

    config = {
        "name": f"seqbench-{suite.name}",
        "method": "grid",
        "parameters": {"cell": {"values": list(range(len(suite.cells)))}},
        "command": ["${env}", "${interpreter}", "-m", "bench", "sweep", name, "--wandb", "${args}"],
    }
    path = Path(suite.cells[0].cfg.out) / "wandb-sweep.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    project = f"seqbench-{suite.name}"
    if wandb_mode() != "online":
        return (
            f"W&B sweep config: {path} ({len(suite.cells)} cells)\nnot logged in to W&B: after `wandb login`, "
            f"create it with `wandb sweep --project {project} {path}` and start `wandb agent SWEEP_ID` on each machine"
        )
    import wandb

    sweep_id = wandb.sweep(config, project=project)
    return f"W&B sweep config: {path}\nstart on each machine: wandb agent {project}/{sweep_id}"
