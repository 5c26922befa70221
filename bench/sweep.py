"""Run every cell of a suite that has no finished record: resumable, N processes at once, one progress bar.

Each cell runs as its own `python -m bench run --config <cell.yaml>` process (a crash cannot take the sweep
down; its output goes to <out>/logs/). On a machine with GPUs, process slot i sees only GPU i mod count.

run: python -m bench sweep ci --jobs 2
"""

import os
import queue
import subprocess
import sys
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

from bench.records import read_record, write_json
from bench.runner import record_paths
from bench.suites import Cell, Suite

DONE = ("ok", "diverged")


def pending_cells(suite: Suite, retry_failed: bool = False) -> list[Cell]:
    """Cells without a finished record; failed ones only when asked. A duplicate config runs once."""
    todo, seen = [], set()
    for cell in suite.cells:
        path = record_paths(cell.cfg)[0]
        record = read_record(path, warn=False)
        status = record["status"] if record else None
        if path in seen or status in DONE or (status == "failed" and not retry_failed):
            continue
        seen.add(path)
        todo.append(cell)
    return todo


def device_slots(jobs: int, gpu_count: int) -> list[str | None]:
    """CUDA_VISIBLE_DEVICES for each process slot: one GPU each, round-robin; None on a CPU-only machine."""
    return [str(i % gpu_count) if gpu_count else None for i in range(jobs)]


def run_cell(cell: Cell, slot: str | None, threads: int, extra: dict) -> str:
    record_path, run_dir = record_paths(cell.cfg)
    logs = Path(cell.cfg.out) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    cell_file = logs / f"{record_path.stem}.yaml"
    overrides = {"threads": threads, **cell.overrides, **extra}
    cell_file.write_text(yaml.safe_dump(overrides, sort_keys=True))
    env = dict(os.environ)
    if slot is not None:
        env["CUDA_VISIBLE_DEVICES"] = slot
    with open(logs / f"{record_path.stem}.log", "w") as log:
        code = subprocess.run(
            [sys.executable, "-m", "bench", "run", "--config", str(cell_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        ).returncode
    record = read_record(record_path, warn=False)
    if record is None:  # killed before it could write: record the failure so the table shows it
        record = {
            "status": "failed",
            "reason": f"run process exited with code {code} and wrote no record; "
            f"see {logs / (record_path.stem + '.log')}",
            "task": cell.cfg.task,
            "config": overrides,
        }
        write_json(record_path, record)
    return record["status"]


def sweep(suite: Suite, jobs: int = 1, retry_failed: bool = False, wandb: bool = False) -> dict[str, int]:
    """Run the pending cells; returns a count per status (including cells that were already done)."""
    todo = pending_cells(suite, retry_failed)
    counts = {"skipped": len(suite.cells) - len(todo)}
    threads = int(suite.cells[0].overrides.get("threads", 0)) or max(1, (os.cpu_count() or 1) // jobs)
    slots: queue.Queue = queue.Queue()
    for slot in device_slots(jobs, torch.cuda.device_count()):
        slots.put(slot)
    extra = {"wandb": True, "wandb_project": f"seqbench-{suite.name}"} if wandb else {}
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
                status = run_cell(cell, slot, threads, extra)
            finally:
                slots.put(slot)
                running.pop(i, None)
            counts[status] = counts.get(status, 0) + 1
            progress.update(bar, advance=1, description=f"{suite.name}: {' | '.join(running.values())}")

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(lambda args: work(*args), enumerate(todo)))
    counts["wall_time_s"] = round(time.perf_counter() - start, 1)
    return counts


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
