"""On a CUDA device: every task trains one epoch under every clipping algorithm, in fp32 and bf16-mixed, tests
its best checkpoint, records the GPU it ran on, and the language model's checkpoint generates text.
Skipped without CUDA (CI has none); run with `pytest -m gpu` on a GPU machine."""

import json

import pytest
import torch

from bench import generate as gen
from bench import tasks
from bench.cli import main
from tests.test_ddp import TINY

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none found)"),
]


def gpu_run(task: str, clip: str, precision: str, out) -> dict:
    argv = ["run", "--task", task, "--dataset", tasks.get(task).offline_dataset, "--max-epochs", "1"]
    argv += ["--clip", clip, "--precision", precision, "--accelerator", "gpu", "--out", str(out)]
    assert main([*argv, *TINY[task][0]]) == 0
    (path,) = out.glob("*.json")
    return json.loads(path.read_text()) | {"_path": str(path)}


@pytest.mark.parametrize("precision", ["32", "bf16-mixed"])
@pytest.mark.parametrize("clip", ["none", "norm:1.0", "value:0.5"])
@pytest.mark.parametrize("task", sorted(TINY))
def test_every_task_trains_and_tests_on_the_gpu(task, clip, precision, tmp_path, capsys):
    rec = gpu_run(task, clip, precision, tmp_path)
    assert rec["status"] == "ok", rec["reason"]
    env = rec["env"]
    assert env["accelerator"] == "cuda" and env["device"] == f"cuda: {torch.cuda.get_device_name(0)}"
    ran = {"32": "32-true"}.get(precision, precision)  # the record names the precision as Lightning runs it
    assert env["precision"] == ran and env["rnn_kernel"] == "cudnn"
    assert env["gpu_count"] == torch.cuda.device_count() and env["cuda"] == torch.version.cuda
    assert any(k.startswith("test/") for k in rec["metrics"])
    assert rec["grad_summary"]["grad/norm_median"] > 0
    if task == "lm":
        text = gen.generate(rec["_path"], "ROMEO:", length=40, temperature=0.8, seed=1)
        assert len(text) == 40
