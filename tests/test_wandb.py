"""Weights & Biases: a run logs its config, metrics and summary offline; a suite becomes a W&B sweep."""

import subprocess
import sys

from bench.cli import main
from tests.conftest import ROOT


def test_run_logs_config_metrics_and_summary_to_offline_wandb(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    args = [
        "run",
        "--dataset",
        "dtmf",
        "--max-epochs",
        "2",
        "--train-limit",
        "64",
        "--hidden-size",
        "8",
        "--wandb",
        "--out",
        str(tmp_path),
    ]
    # a separate process, as a user runs it: W&B finishes writing its files when the process exits
    res = subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0 and "upload with: wandb sync " in res.stdout
    (log,) = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    data = log.read_bytes()  # protobuf records: keys are stored as plain strings
    for key in (
        b"val/acc",
        b"train/loss",
        b"test/acc",
        b"hidden_size",
        b"train_limit",
        b"speech-dtmf",
        b"steps_per_s",
    ):
        assert key in data, key


def test_wandb_sweep_config_and_single_cell(tmp_path, monkeypatch, capsys):
    import yaml

    monkeypatch.setenv("WANDB_MODE", "offline")
    path = tmp_path / "two.yaml"
    path.write_text(
        "models: [gru, rnn]\ncommon: {threads: 1}\n"
        "tasks: {probes: {datasets: [adding], seq_len: 10, n_train: 64, n_eval: 32, max_epochs: 1}}\n"
    )
    out = tmp_path / "runs"
    assert main(["sweep", str(path), "--out", str(out), "--wandb-sweep"]) == 0
    config = yaml.safe_load((out / "wandb-sweep.yaml").read_text())
    assert config["method"] == "grid" and config["parameters"]["cell"]["values"] == [0, 1]
    assert config["command"][2:7] == ["-m", "bench", "sweep", str(path), "--wandb"]
    assert "wandb agent" in capsys.readouterr().out
    assert main(["sweep", str(path), "--out", str(out), "--cell", "1"]) == 0  # what an agent runs
    assert [p.name.split("-")[2] for p in out.glob("*.json")] == ["rnn"]
