"""Tuning inside a suite: trials at tuning seeds, the choice on validation, the reported seeds at the choice."""

import re
from pathlib import Path

import pytest

from bench import table
from bench.base.errors import BenchError
from bench.cli import main
from bench.config import config_hash
from bench.suites import load_suite
from tests.conftest import write_record

TUNED = """
models: [lstm, rnn]
seeds: [0, 1]
tune: {space: {lr: [0.001, 0.01]}, seeds: [100, 101]}
tasks:
  speech: {datasets: [dtmf], hidden_size: 8}
"""


@pytest.fixture
def tuned(tmp_path):
    path = tmp_path / "tuned.yaml"
    path.write_text(TUNED)
    return path, str(tmp_path / "runs")


def score(suite, val: dict, status: dict | None = None):
    """Records for the trials: val maps (model, lr) -> val/acc; status (model, lr, seed) -> a status."""
    for c in suite.trials:
        key = (c.cfg.model, c.cfg.lr)
        got = (status or {}).get((*key, c.cfg.seed), "ok")
        write_record(c.cfg, got, metrics={"val/acc": val[key] + (c.cfg.seed - 100) / 100, "test/acc": 0.99})


def test_cells_wait_for_their_trials_then_run_at_the_best_validation_setting(tuned):
    path, out = tuned
    suite = load_suite(str(path), out)
    assert not suite.cells and len(suite.untuned) == 2
    assert sorted({(c.cfg.model, c.cfg.lr, c.cfg.seed) for c in suite.trials}) == [
        (m, lr, s) for m in ("lstm", "rnn") for lr in (0.001, 0.01) for s in (100, 101)
    ]
    score(suite, {("lstm", 0.001): 0.4, ("lstm", 0.01): 0.7, ("rnn", 0.001): 0.5, ("rnn", 0.01): 0.2})
    suite = load_suite(str(path), out)
    assert sorted((c.cfg.model, c.cfg.lr, c.cfg.seed) for c in suite.cells) == [
        ("lstm", 0.01, 0),
        ("lstm", 0.01, 1),
        ("rnn", 0.001, 0),
        ("rnn", 0.001, 1),
    ]  # each model at its own choice, at the reported seeds only
    choice = suite.choices[("speech/dtmf", "lstm none")]
    assert (
        choice.text() == "lr=0.01 (best val/acc of 2 trials: lr=0.001 0.405, lr=0.01 0.705)"
    )  # means over seeds
    for c in suite.cells:
        write_record(c.cfg, "ok", metrics={"test/acc": 0.5 + c.cfg.seed / 10, "val/acc": 0.5})
    groups = table.collect(suite)
    md, csv = table.to_markdown(suite, groups), table.to_csv(suite, groups)
    assert "## setting chosen on validation (2 trials per cell, tuning seeds only)" in md
    assert "speech/dtmf,lstm,none,tuned/lr,0.01,0,2" in csv  # bench reproduce compares the choice too
    assert "0.550 ± 0.071 (n=2)" in md  # the reported seeds, not the trials' 0.99


def test_a_diverged_trial_scores_worst_and_a_failed_one_holds_the_choice(tuned):
    path, out = tuned
    suite = load_suite(str(path), out)
    val = {("lstm", 0.001): 0.4, ("lstm", 0.01): 0.7, ("rnn", 0.001): 0.5, ("rnn", 0.01): 0.6}
    score(suite, val, {("lstm", 0.01, 101): "diverged", ("rnn", 0.01, 100): "failed"})
    suite = load_suite(str(path), out)
    assert {c.cfg.lr for c in suite.cells} == {0.001} and {c.cfg.model for c in suite.cells} == {"lstm"}
    assert suite.untuned == [("speech/dtmf", "rnn none")]  # rerun with --retry-failed, then it is chosen


@pytest.mark.parametrize(
    ("tune", "message"),
    [
        ("{space: {lr: [0.1]}, seeds: [0]}", "tuning seeds [0] are also reported seeds"),
        ("{space: {lr: 0.1}, seeds: [100]}", "must map each key to a non-empty list"),
        ("{space: {lr: [0.1]}}", "tune needs 'seeds'"),
        ("{space: {seed: [1]}, seeds: [100]}", "cannot search 'seed'"),
        ("{grid: {lr: [0.1]}, seeds: [100]}", "'tune' must map space and seeds"),
    ],
)
def test_bad_tuning_specs_name_the_problem(tmp_path, tune, message):
    path = tmp_path / "bad.yaml"
    path.write_text(TUNED.replace("{space: {lr: [0.001, 0.01]}, seeds: [100, 101]}", tune))
    with pytest.raises(BenchError, match=re.escape(message)):
        load_suite(str(path), str(tmp_path / "runs"))


def test_a_tuned_sweep_runs_each_row_trials_then_cells_before_the_next_row(tmp_path, capsys):
    """Row by row: a suite that takes days finishes whole rows, its first rows first."""
    path = tmp_path / "one.yaml"
    path.write_text(
        "models: [gru]\nseeds: [0]\ncommon: {threads: 1, hidden_size: 8, max_epochs: 2}\n"
        "tune: {space: {lr: [0.0001, 0.01]}, seeds: [7]}\n"
        "tasks:\n  speech: {datasets: [dtmf], train_limit: 64}\n"
        "  probes: {datasets: [adding], seq_len: 10, n_train: 128, n_eval: 32}\n"
    )
    out = str(tmp_path / "runs")
    assert main(["sweep", str(path), "--out", out]) == 0
    assert "ok: 6" in capsys.readouterr().out  # per row two trials, then the one reported seed
    suite = load_suite(str(path), out)
    assert len(suite.cells) == 2
    for cell in suite.cells:
        assert cell.cfg.seed == 0 and cell.cfg.lr == suite.choices[(cell.row, "gru none")].setting["lr"]
    kind = {config_hash(c.cfg): "trial" for c in suite.trials} | {
        config_hash(c.cfg): "cell" for c in suite.cells
    }
    log = (Path(out) / "logs" / "sweep.log").read_text().splitlines()
    started = [line.split()[3].rsplit("-", 1) for line in log if line.split()[2] == "start"]
    order = [(stem.split("-")[0], kind[h]) for stem, h in started]
    assert order == [("speech", "trial")] * 2 + [("speech", "cell")] + [("probes", "trial")] * 2 + [
        ("probes", "cell")
    ]
    capsys.readouterr()
    assert main(["sweep", str(path), "--out", out, "--cell", "0"]) == 2
    assert "tunes each cell on validation first" in capsys.readouterr().err
