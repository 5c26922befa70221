"""The warm worker: a forked cell starts from the state of a fresh process and writes the record a cold one does."""

import json
import subprocess
import sys

from bench import tasks, worker
from bench.cli import main
from bench.records import record_paths
from bench.suites import load_suite

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def _child_state(queue, threads: int) -> None:
    import torch

    before = worker.state()
    torch.set_num_threads(threads)
    x = torch.randn(256, 256)
    (x @ x).sum().item()  # an OpenMP region: it would hang had the server started a pool before the fork
    queue.put({**before, "threads": torch.get_num_threads()})


def test_a_forked_cell_starts_as_a_fresh_process_would():
    ctx = worker.context()
    queue = ctx.Queue()
    proc = ctx.Process(target=_child_state, args=(queue, 2))
    proc.start()
    forked = queue.get(timeout=300)
    proc.join(timeout=60)
    cold = json.loads(
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import json; from bench import worker; print(json.dumps(worker.state()))",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert proc.exitcode == 0 and forked.pop("threads") == 2
    assert forked == cold  # flags, matmul precision; no CUDA context, no W&B run (seeds: next test)
    assert forked["cuda_initialized"] is False and forked["wandb"] is False


def test_warm_and_cold_sweeps_write_the_same_records_for_every_task(tmp_path):
    path = tmp_path / "each.yaml"
    entries = "\n".join(
        f"  {name}: {{datasets: [{tasks.get(name).offline_dataset}]}}" for name in tasks.names()
    )
    path.write_text(
        "models: [gru]\nseeds: [0]\n"
        "common: {threads: 1, max_epochs: 1, hidden_size: 8, batch_size: 64, max_minutes: 0}\n"
        f"tasks:\n{entries}\n"
    )
    for kind in ("warm", "cold"):
        args = ["sweep", str(path), "--out", str(tmp_path / kind)] + (["--cold"] if kind == "cold" else [])
        assert main(args) == 0
    suite = {kind: load_suite(str(path), str(tmp_path / kind)) for kind in ("warm", "cold")}
    # how long and where it ran, not what it computed; a checkpoint file also holds its callbacks' state
    # (paths, timers), so its bytes' digest differs between two runs of the same weights
    timings = {"wall_time_s", "steps_per_s", "env", "checkpoint_sha256"}
    for warm, cold in zip(suite["warm"].cells, suite["cold"].cells, strict=True):
        a, b = (  # each record with its own folder's name taken out of its paths
            json.loads(record_paths(c.cfg)[0].read_text().replace(str(tmp_path / kind), "OUT"))
            for c, kind in ((warm, "warm"), (cold, "cold"))
        )
        assert a["status"] == "ok" and a["hash"] == b["hash"]
        assert {k: v for k, v in a.items() if k not in timings} == {
            k: v for k, v in b.items() if k not in timings
        }, warm.cfg.task
        assert "(warm)" in (tmp_path / "warm" / "logs" / "sweep.log").read_text()
