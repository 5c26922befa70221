"""GPU correctness and speed, checked on a CPU: tensors made in the training loop name their device, the
training loop reads nothing back to the host per step, lengths stay on the host, divergence found late still
names its first step, on any rank."""

import ast
import collections
import json
import math
import os
import traceback
import types
from pathlib import Path

import pytest
import torch
from pytorch_lightning.callbacks import Callback

import bench.module
import bench.runner
from bench import tasks
from bench.base.errors import Diverged
from bench.cli import main
from bench.config import resolve
from bench.module import SeqModule
from tests.conftest import ROOT
from tests.test_train import poison_loss

FACTORIES = {
    "zeros",
    "ones",
    "full",
    "empty",
    "arange",
    "tensor",
    "rand",
    "randn",
    "randint",
    "linspace",
    "eye",
}
# Code that runs inside a training, validation or test step: module forward passes, metric updates, losses,
# step functions and every callback/module hook.
HOT = {"forward", "update", "compute", "loss", "final_loss", "restore", "_step", "_check_finite"}


def hot(name: str) -> bool:
    return name in HOT or name.startswith(("on_", "training_step", "validation_step", "test_step"))


def test_tensors_made_in_the_loop_name_their_device():
    """A tensor made without `device=` lands on the CPU and breaks every GPU run that meets it (the clip-none
    crash of GradientDiagnostics). Lints the hot code of bench/, tasks/ and models/."""
    bad = []
    for path in sorted(p for d in ("bench", "tasks", "models") for p in (ROOT / d).glob("*.py")):
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) or not hot(fn.name):
                continue
            for call in ast.walk(fn):
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and isinstance(call.func.value, ast.Name)
                    and call.func.value.id == "torch"
                    and call.func.attr in FACTORIES
                    and not any(k.arg == "device" for k in call.keywords)
                ):
                    bad.append(f"{path.relative_to(ROOT)}:{call.lineno} torch.{call.func.attr} in {fn.name}")
    assert not bad, "tensors made without device= in the training loop:\n" + "\n".join(bad)


READS = ("item", "tolist", "__bool__", "__float__", "__int__", "numpy")


@pytest.mark.parametrize("task_name", tasks.names())
def test_no_host_read_per_training_step(task_name, tmp_path, monkeypatch):
    """On a GPU every read of a device value waits for the device. Counts the reads made inside training
    batches (the optimizer's own step counter, which lives on the host, excepted) with the divergence check
    set to its accelerator interval: far fewer than one per step."""
    counts = collections.Counter()
    inside = [False]

    def counting(name):
        original = getattr(torch.Tensor, name)

        def read(self, *args, **kwargs):
            if inside[0] and not any("torch/optim" in f.filename for f in traceback.extract_stack(limit=6)):
                frame = traceback.extract_stack(limit=2)[0]
                counts[f"{name} at {Path(frame.filename).name}:{frame.lineno}"] += 1
            return original(self, *args, **kwargs)

        return read

    for name in READS:
        monkeypatch.setattr(torch.Tensor, name, counting(name))

    class Inside(Callback):
        def on_train_batch_start(self, *args):
            inside[0] = True

        def on_train_batch_end(self, *args):
            inside[0] = False

    make = bench.runner.make_trainer
    monkeypatch.setattr(
        bench.runner,
        "make_trainer",
        lambda c, t, d, extra, logger=False: make(c, t, d, [*extra, Inside()], logger),
    )
    monkeypatch.setattr(bench.module, "finite_check_interval", lambda device: 20)
    small = {"lm": {"train_tokens": 20000}, "video": {"n_train": 8, "frames": 4, "size": 16}}
    cfg = resolve(
        {
            "task": task_name,
            "dataset": tasks.get(task_name).offline_dataset,
            "max_epochs": 1,
            "hidden_size": 16,
            "clip": "value:0.5",
            "out": str(tmp_path),
            **small.get(task_name, {}),
        }
    )
    record, _ = bench.runner.run(cfg)
    assert record.status == "ok", record.reason
    assert sum(counts.values()) <= record.steps // 20 + 1, dict(counts)


def test_lengths_stay_on_the_host():
    task = tasks.get("speech")
    cfg = resolve({"dataset": "dtmf", "hidden_size": 8})
    module = SeqModule(cfg, task, {"input_size": 20, "num_classes": 10, "classes": list("0123456789")})
    batch = {
        "x": torch.zeros(2, 5, 20),
        "y": torch.zeros(2, dtype=torch.long),
        "lengths": torch.tensor([5, 3]),
    }
    moved = module.transfer_batch_to_device(batch, torch.device("meta"), 0)
    assert moved["x"].device.type == "meta" and moved["lengths"].device.type == "cpu"


def test_divergence_read_late_still_names_its_first_step(tmp_path, capsys, monkeypatch):
    """With the flag read every 5 steps (as on a GPU, every 20), a NaN at step 2 stops the run at step 4's
    read, and the record names step 2."""
    poison_loss(monkeypatch)
    monkeypatch.setattr(bench.module, "finite_check_interval", lambda device: 5)
    argv = ["run", "--dataset", "dtmf", "--max-epochs", "1", "--hidden-size", "8", "--train-limit", "128"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    rec = json.loads(open(capsys.readouterr().out.strip().splitlines()[-1].removeprefix("record: ")).read())
    assert rec["status"] == "diverged" and rec["diverged_step"] == 2 and rec["steps"] == 4
    assert "non-finite training loss (nan) at step 2" in rec["reason"]


def test_divergence_on_another_rank_names_that_ranks_first_step():
    """Under DDP every rank stops together; the record (rank 0's) names the first non-finite step over all
    ranks. A stand-in strategy plays a second rank whose loss went NaN at step 3."""

    class TwoRanks:
        def reduce_boolean_decision(self, decision, all=True):
            return False  # the other rank saw a non-finite loss

        def all_gather(self, mine):
            return torch.stack([mine, torch.tensor([3.0, math.nan], dtype=torch.float64)])

    task = tasks.get("speech")
    cfg = resolve({"dataset": "dtmf", "hidden_size": 8})
    module = SeqModule(cfg, task, {"input_size": 20, "num_classes": 10, "classes": list("0123456789")})
    module._trainer = types.SimpleNamespace(strategy=TwoRanks(), world_size=2)
    module._recent = [(5, torch.tensor(1.0))]  # this rank: finite
    with pytest.raises(Diverged, match=r"\(nan\) at step 3") as err:
        module._check_finite()
    assert err.value.step == 3


def test_usable_cores_follow_the_affinity_mask_and_the_cgroup_quota(tmp_path, monkeypatch):
    from bench import hardware

    (tmp_path / "cpu.max").write_text("150000 100000\n")  # 1.5 CPUs: a container's quota
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert hardware.usable_cores(tmp_path) == (1, "affinity 4, cgroup quota 1.5")
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert hardware.usable_cores(tmp_path) == (4, "affinity 4")


@pytest.mark.parametrize(("one", "two", "chosen"), [(1, 40, 1), (40, 1, 2), (10, 9, 1), (10, 7, 2)])
def test_pick_threads_wants_more_threads_clearly_faster_and_says_why(monkeypatch, one, two, chosen):
    """1 thread unless 2 are 1.25x faster: 9 ms against 10 ms is noise on a loaded machine, not a reason."""
    import time

    from bench import hardware

    clock = [0.0]
    ms = {1: one, 2: two}  # milliseconds per step at 1 and 2 threads

    def step():  # a step of ms[threads] on a fake clock
        clock[0] += ms[torch.get_num_threads()] / 1000

    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    before = torch.get_num_threads()
    try:
        n, why = hardware.pick_threads(step, 2)
        assert n == chosen and torch.get_num_threads() == chosen
        assert why == (
            f"median step of 3, alternating: 1 threads {ms[1]:.1f} ms, 2 threads {ms[2]:.1f} ms; "
            "more threads must be 1.25x faster"
        )
    finally:
        torch.set_num_threads(before)


FAULTS = """
import resource, sys, torch
from bench.hardware import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory().startswith("glibc malloc keeps")
torch.ones(2**24).sum()  # 64 MB, above glibc's largest mmap threshold: a warm-up
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    torch.ones(2**24).sum()  # what a training step's activations do: allocate, use, free, again
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(
    __import__("platform").libc_ver()[0] != "glibc", reason="mallopt is glibc's; this libc is not"
)
def test_freed_memory_is_reused_instead_of_faulted_in_again():
    import subprocess
    import sys

    def faults(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True)
        return int(out.stdout)

    kept, default = faults("keep"), faults("default")
    assert default > 3 * max(kept, 1), (kept, default)  # each fresh 64 MB mapping faults its pages in again
