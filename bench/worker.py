"""The sweep's warm worker: a fork server that imports torch, Lightning and every task once, and forks a fresh
child per cell, so a cell starts training in a fraction of a second instead of paying the imports again.

Every child is forked from the server, never from an earlier cell: no seed, thread count, deterministic flag,
CUDA context or W&B run can leak from one cell to the next. The server only imports; it runs no torch op
(so no OpenMP pool exists to be forked) and never touches CUDA (a child picks its GPU by CUDA_VISIBLE_DEVICES
before CUDA starts). A child is its own session with its own log, and dies with the sweep (it waits on the
sweep's pidfd), as a cold `python -m bench run` process does (parent-death signal). bench.sweep runs DDP
cells cold: Lightning's launcher re-executes the command line, which a forked child does not have.

run: python -m bench sweep ci --jobs 2  (python -m bench sweep ci --cold: one new process per cell)
"""

import importlib
import io
import multiprocessing
import os
import select
import signal
import sys
import threading

from bench import cli, models, runner, tasks  # noqa: F401  (runner: imported in the server, before any fork)
from bench.tasks import heads, lm_sample, lm_streams, metrics, video_cnn  # noqa: F401  (what runs import)

for _name in tasks.names():  # every task module, and the compiled extensions that its runs load
    for _extension in tasks.get(_name).extensions:
        importlib.import_module(_extension)
for _name in models.names():  # the built-in models' modules, which the registry imports on first build
    if isinstance(_factory := models.spec(_name).factory, models.Lazy):
        importlib.import_module(_factory.path.partition(":")[0])
# Every run ends with its gradient-profile plot: its first one in a process also loads the font list and builds
# the parser of the log axis' labels (0.15 s), which one plot here leaves to every cell (it starts no thread).
runner.save_profile_plot([1e-3, 1.0], io.BytesIO(), "warm-up")


def context():
    """The forkserver context whose server preloads this module; started on the first cell."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


def state() -> dict:
    """What a cell inherits at its start, for the tests: nothing a run sets may differ from a cold process."""
    import torch

    return {
        "cuda_initialized": torch.cuda.is_initialized(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "wandb": "wandb" in sys.modules and getattr(sys.modules["wandb"], "run", None) is not None,
        "matmul_precision": torch.get_float32_matmul_precision(),
    }


def die_with(pid: int) -> None:
    """SIGTERM this process when process `pid` (the sweep) ends: a thread blocks on its pidfd. The parent-death
    signal cannot do it here: the parent is the fork server, which lives while any of its children does."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:  # it is gone already
        os.kill(os.getpid(), signal.SIGTERM)
        return
    except (AttributeError, OSError):
        return  # no pidfd (Linux < 5.3, or not Linux): the sweep stops its cells itself

    def wait() -> None:
        select.select([fd], [], [])
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=wait, name="die-with-sweep", daemon=True).start()


def run_cell(cell_file: str, log_path: str, env: dict, sweep_pid: int) -> None:
    """The child: its own session and log, the cell's environment, then `bench run --config cell_file`."""
    os.setsid()  # Ctrl-C reaches the sweep alone, which stops its cells in order
    die_with(sweep_pid)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a run records Ctrl-C as interrupted
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for fd in (1, 2):
        os.dup2(log, fd)
    os.close(log)
    os.environ.clear()  # the sweep's environment as it is now, not the server's from its start
    os.environ.update(env)
    sys.argv = [sys.executable, "-m", "bench", "run", "--config", cell_file]
    code = cli.main(["run", "--config", cell_file])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no multiprocessing clean-up: the exit code is the run's, as for a cold process
