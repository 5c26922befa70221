"""Mixed precision on any x86-64 CPU: the recurrent kernel is probed, the fallback runs everywhere, the record
says which ran, and a precision that nothing here can run is one line before any work."""

import json
import os
import subprocess
import sys

import pytest
import torch

from bench import hardware, models
from bench.cli import main
from tests.conftest import ROOT, usage_error

PROBES = ["--task", "probes", "--seq-len", "10", "--n-train", "128", "--n-eval", "64", "--max-epochs", "1"]


def record_of(stdout: str) -> dict:
    return json.loads(open(stdout.strip().splitlines()[-1].removeprefix("record: ")).read())


@pytest.mark.parametrize("forced", ["", "native"])
def test_bf16_mixed_trains_on_cpu(forced, tmp_path, capsys, monkeypatch):
    """The probed kernel (oneDNN where this CPU has a bf16 LSTM) and, on every machine, the native fallback."""
    monkeypatch.setenv("BENCH_RNN_KERNEL", forced)
    argv = ["run", *PROBES, "--precision", "bf16-mixed", "--accelerator", "cpu", "--out", str(tmp_path)]
    assert main(argv) == 0
    rec = record_of(capsys.readouterr().out)
    expected = forced or hardware.cpu_rnn_kernel("lstm", torch.bfloat16)
    assert rec["status"] == "ok" and rec["config"]["precision"] == "bf16-mixed"
    assert (rec["env"]["precision"], rec["env"]["rnn_kernel"], rec["env"]["accelerator"]) == (
        "bf16-mixed",
        expected,
        "cpu",
    )


def test_cpu_without_onednn_bf16_lstm_falls_back(tmp_path):
    """ONEDNN_MAX_CPU_ISA=AVX2 gives this process the oneDNN of an AVX2-only CPU (no bf16 LSTM primitive):
    the probe must find the native path, and the run must finish on it."""
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "BENCH_RNN_KERNEL": ""}
    argv = [*PROBES, "--precision", "bf16-mixed", "--accelerator", "cpu", "--threads", "1"]
    res = subprocess.run(
        [sys.executable, "-m", "bench", "run", *argv, "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    rec = record_of(res.stdout)
    assert rec["status"] == "ok" and rec["env"]["rnn_kernel"] == "native"


def test_no_kernel_for_the_precision_is_one_line_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(hardware, "cpu_rnn_kernel", lambda cell, dtype: None)
    line = usage_error(
        ["run", *PROBES, "--precision", "bf16-mixed", "--accelerator", "cpu", "--out", str(tmp_path)], capsys
    )
    assert line == (
        "error: --precision bf16-mixed cannot run the lstm on this CPU (neither oneDNN's fused kernel nor "
        "torch's native one); use --precision 32"
    )
    assert not list(tmp_path.iterdir())  # nothing was written


def test_bad_forced_kernel(monkeypatch, capsys):
    monkeypatch.setenv("BENCH_RNN_KERNEL", "cudnn")
    line = usage_error(["run", *PROBES, "--precision", "bf16-mixed", "--accelerator", "cpu"], capsys)
    assert "BENCH_RNN_KERNEL='cudnn' is not a kernel; valid: onednn, native" in line


def test_probe_keeps_the_random_stream():
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    hardware.cpu_rnn_kernel.__wrapped__("gru", torch.bfloat16)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("cell", models.names())
def test_native_kernel_matches_onednn_in_fp32(cell):
    """The fallback is the same function: outputs and gradients agree with the fused kernel."""
    torch.manual_seed(0)
    enc = models.build(cell, 5, 8, num_layers=2)
    x, lengths = torch.randn(3, 7, 5), torch.tensor([7, 4, 2])
    results = []
    for kernel in ("onednn", "native"):
        enc.cpu_kernel = kernel
        enc.zero_grad()
        out, _ = enc(x, lengths)
        out.sum().backward()
        results.append((out.detach(), [p.grad.clone() for p in enc.parameters()]))
    torch.testing.assert_close(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(a, b)
    assert torch.backends.mkldnn.enabled  # the switch is put back
