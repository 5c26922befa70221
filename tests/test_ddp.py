"""DDP on CPU (gloo, 2 processes): every task trains and matches a single process with the same global batch."""

import json
import os
import subprocess
import sys

import pytest

from bench import tasks
from bench.cli import main
from tests.conftest import ROOT

# A few seconds of training per task on its offline dataset; (arguments, relative tolerance on test metrics).
# When the split sizes are multiples of the global batch, fixed-length batches split exactly over ranks and
# DDP repeats the single-process run up to float rounding (probes). Otherwise the last partial batch is
# padded by wrap-around on each rank, as DistributedSampler does (forecast), and length-bucketed batches
# are composed per rank (speech): both differ slightly.
TINY = {
    "speech": (["--train-limit", "256", "--hidden-size", "16"], 0.05),
    "probes": (["--seq-len", "20", "--n-train", "512", "--n-eval", "128"], 1e-4),
    "forecast": (["--input-len", "24", "--horizon", "6", "--hidden-size", "16"], 0.05),
    "lm": (["--hidden-size", "32", "--bptt", "16", "--train-tokens", "20000", "--dropout", "0"], 1e-3),
    "video": (
        [
            "--frames",
            "4",
            "--size",
            "16",
            "--n-train",
            "8",
            "--n-eval",
            "4",
            "--width",
            "4",
            "--feature-size",
            "16",
            "--hidden-size",
            "16",
        ],
        0.05,
    ),
}


def test_every_task_has_a_ddp_case():
    assert sorted(TINY) == tasks.names()


def run(task: str, devices: int, out, extra=()) -> tuple[dict, list]:
    args = [
        "-m",
        "bench",
        "run",
        "--task",
        task,
        "--dataset",
        tasks.get(task).offline_dataset,
        "--max-epochs",
        "2",
        "--batch-size",
        "32",
        "--threads",
        "1",
        "--accelerator",
        "cpu",
        "--devices",
        str(devices),
        "--strategy",
        "ddp",
        "--out",
        str(out),
        *TINY[task][0],
        *extra,
    ]
    res = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    records = list(out.glob("*.json"))
    return json.loads(records[0].read_text()), records


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(TINY))
def test_ddp_matches_single_process(task, tmp_path):
    single, _ = run(task, 1, tmp_path / "single")
    ddp, records = run(task, 2, tmp_path / "ddp")
    assert len(records) == 1  # only rank 0 writes
    assert (ddp["status"], ddp["world_size"], ddp["global_batch_size"]) == ("ok", 2, 32)
    assert ddp["steps"] == single["steps"]  # the same global batches per epoch
    tol = TINY[task][1]
    for key, value in single["metrics"].items():
        if key.startswith("test/"):
            assert ddp["metrics"][key] == pytest.approx(value, rel=tol, abs=tol), key


def test_global_batch_must_split_evenly(capsys):
    assert main(["run", "--devices", "3", "--batch-size", "32"]) == 2
    assert (
        "batch_size 32 is the global batch and must divide evenly over 3 processes" in capsys.readouterr().err
    )


def test_bad_precision(capsys):
    assert main(["run", "--precision", "8"]) == 2
    assert "unknown precision '8'; valid: 32, bf16-mixed, 16-mixed" in capsys.readouterr().err


def test_a_ddp_run_leaves_its_process_group(tmp_path):
    """A rank that exits with gloo's process group alive can abort at interpreter exit (SIGABRT), which kills the
    whole DDP run after its training finished: the run leaves the group itself, here with a single rank. It also
    leaves the environment as it found it: a LOCAL_RANK left behind made later runs skip their cell lock and a
    later DDP run wait for ranks that never came."""
    import torch.distributed as dist

    launch = ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "PL_GLOBAL_SEED")
    before = {name: os.environ.get(name) for name in launch}

    args = ["run", "--task", "probes", "--dataset", "adding", "--max-epochs", "1", "--batch-size", "32"]
    args += ["--threads", "1", "--accelerator", "cpu", "--devices", "1", "--strategy", "ddp"]
    args += ["--out", str(tmp_path)]
    assert main([*args, *TINY["probes"][0]]) == 0
    record = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert record["status"] == "ok"
    assert not dist.is_initialized()
    assert {name: os.environ.get(name) for name in launch} == before
