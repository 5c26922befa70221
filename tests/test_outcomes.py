"""Nothing finished is lost: a record for every run that started (saturated, diverged, failing summaries), and a
failed or interrupted rerun never replaces a finished record or the checkpoint it describes."""

import hashlib
import json
import math

from bench import tasks
from bench.cli import main
from bench.config import parse_clip
from bench.diagnostics import GradientDiagnostics, reach
from bench.publish import attempt_path

TINY = ["--dataset", "dtmf", "--hidden-size", "8", "--train-limit", "64", "--threads", "1"]


def run_cli(args, capsys):
    code = main(["run", *args])
    out, _ = capsys.readouterr()
    return code, out.strip().splitlines()[-1].removeprefix("record: ")


def test_reach_and_summary_survive_nan_and_empty_data():
    assert math.isnan(reach([])) and math.isnan(reach([1.0, 0.0])) and reach([0.0, 1.0]) == -math.inf
    diag = GradientDiagnostics(parse_clip("none"))
    diag._rows = [[1.0, 0.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0]]  # two steps read back: total, ih, hh, fired
    diag.profile, diag.reaches = [1.0, 0.0], [math.nan, math.nan]  # a saturated run: every reach undefined
    summary = diag.summary()
    assert math.isnan(summary["grad/reach"]) and math.isnan(summary["grad/reach_median"])
    assert summary["grad/norm_max"] == 2.0


def test_saturated_probe_run_keeps_its_record(tmp_path, capsys):
    """--recurrent-init-scale 1e6 saturates the tanh RNN: the last step's gradient is 0, every reach NaN."""
    args = ["--task", "probes", "--dataset", "adding", "--model", "rnn", "--recurrent-init-scale", "1e6"]
    args += [
        "--max-epochs",
        "2",
        "--hidden-size",
        "8",
        "--n-train",
        "128",
        "--n-eval",
        "32",
        "--seq-len",
        "20",
    ]
    code, path = run_cli([*args, "--threads", "1", "--out", str(tmp_path)], capsys)
    rec = json.loads(open(path).read())
    assert code == 0 and rec["status"] in ("ok", "diverged") and rec["epochs"] == 2, rec.get("reason")
    assert math.isnan(rec["grad_summary"]["grad/reach_median"]) and "summary_errors" not in rec
    assert len(rec["history"]) == 2 and "test/loss" in rec["metrics"]


def test_a_failing_summary_step_still_writes_the_record(tmp_path, capsys, monkeypatch):
    def broken(*a, **k):
        raise RuntimeError("no display")

    monkeypatch.setattr("bench.runner.save_profile_plot", broken)
    code, path = run_cli([*TINY, "--max-epochs", "1", "--out", str(tmp_path)], capsys)
    rec = json.loads(open(path).read())
    assert code == 0 and rec["status"] == "ok" and "grad/norm_max" in rec["grad_summary"]
    assert rec["summary_errors"] == {"grad_profile": "RuntimeError: no display"}


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_failed_or_interrupted_rerun_keeps_the_finished_record_and_checkpoint(tmp_path, capsys, monkeypatch):
    code, path = run_cli([*TINY, "--max-epochs", "2", "--out", str(tmp_path)], capsys)
    before = open(path).read()
    ckpt = json.loads(before)["checkpoint"]
    ckpt_digest = digest(ckpt)
    task, calls, failure = tasks.get("speech"), [], [RuntimeError("disk on fire")]
    real_loss = task.loss

    def dies_in_epoch_two(pred, y):
        calls.append(1)
        if len(calls) > 4:  # 2 train steps and 2 validation batches per epoch: epoch 1 saved its checkpoint
            raise failure[0]
        return real_loss(pred, y)

    monkeypatch.setattr(type(task), "loss", lambda self, pred, y: dies_in_epoch_two(pred, y))
    code, attempt = run_cli([*TINY, "--max-epochs", "2", "--out", str(tmp_path)], capsys)
    assert code == 1 and attempt == str(attempt_path(type(tmp_path)(path)))
    assert json.loads(open(attempt).read())["reason"] == "RuntimeError: disk on fire"
    calls.clear()
    failure[0] = KeyboardInterrupt()
    code, attempt = run_cli([*TINY, "--max-epochs", "2", "--out", str(tmp_path)], capsys)
    assert code == 130 and json.loads(open(attempt).read())["status"] == "interrupted"
    assert (
        open(path).read() == before and digest(ckpt) == ckpt_digest
    )  # the record still describes its weights


def test_finished_rerun_replaces_record_and_checkpoint_together(tmp_path, capsys):
    _, path = run_cli([*TINY, "--max-epochs", "1", "--out", str(tmp_path)], capsys)
    first = json.loads(open(path).read())
    _, again = run_cli([*TINY, "--max-epochs", "1", "--out", str(tmp_path)], capsys)
    second = json.loads(open(again).read())
    assert again == path and second["checkpoint"] == first["checkpoint"] and ".partial" not in again
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no work folders left


def test_a_run_the_time_cap_stopped_says_so_in_its_record_and_last_line(tmp_path, capsys):
    """--max-minutes makes a result depend on the machine's speed: such a run says so wherever it is read."""
    args = ["--task", "speech", "--model", "gru", *TINY, "--max-epochs", "50", "--max-minutes", "0.0001"]
    code = main(["run", *args, "--out", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    record = json.loads(next((tmp_path / "runs").glob("*.json")).read_text())
    assert code == 0 and record["status"] == "ok" and record["epochs"] < 50
    reason = record["reason"]
    assert reason.startswith("stopped by the time cap after ") and reason.endswith(" of 50 epochs"), reason
    assert f"status: ok ({reason})" in out


def test_the_table_counts_runs_the_time_cap_stopped(tmp_path):
    from bench import table
    from bench.suites import load_suite
    from tests.conftest import write_record

    path = tmp_path / "capped.yaml"
    path.write_text("models: [gru]\nseeds: [0, 1]\ntasks:\n  speech: {datasets: [dtmf]}\n")
    suite = load_suite(str(path), str(tmp_path / "runs"))
    for cell in suite.cells:
        reason = "stopped by the time cap after 3 of 40 epochs" if cell.cfg.seed else ""
        write_record(cell.cfg, metrics={"test/acc": 0.5 + cell.cfg.seed / 10}, reason=reason)
    groups = table.collect(suite)
    assert groups[0].capped == 1
    assert (
        str(table.grids(suite, groups)[0][1][1][1]) == "**0.550 ± 0.071 (n=2)** [1 stopped by the time cap]"
    )


def test_a_clip_setting_that_never_fired_is_marked_as_no_evidence(tmp_path):
    """value:0.5 on the LM never clipped: its runs are bit-identical to clip none and must not read as a finding."""
    from bench import table
    from bench.suites import load_suite
    from tests.conftest import write_record

    path = tmp_path / "clips.yaml"
    path.write_text(
        'models: [gru]\nclips: [none, "value:0.5", "norm:1.0"]\nseeds: [0, 1]\ntasks:\n  speech: {datasets: [dtmf]}\n'
    )
    suite = load_suite(str(path), str(tmp_path / "runs"))
    for cell in suite.cells:
        rate = {"none": 0.0, "value:0.5": 0.0, "norm:1.0": 0.2 * cell.cfg.seed}[cell.cfg.clip]
        write_record(
            cell.cfg, metrics={"test/acc": 0.5 + cell.cfg.seed / 10}, grad_summary={"grad/clip_rate": rate}
        )
    header, row = table.grids(suite, table.collect(suite))[0][1][:2]
    assert header[1:4] == ["gru none", "gru value:0.5", "gru norm:1.0"]
    none, value, norm = map(str, row[1:4])
    assert value.endswith("[clip never fired]")
    assert "never fired" not in none and "never fired" not in norm  # norm:1.0 fired in one of its two seeds


def test_an_edited_or_damaged_record_is_not_counted_as_finished(tmp_path, capsys):
    """Row 5 of issue 30: a primary metric of "banana", no metrics, or another config's hash: the sweep names
    the record and reruns it, and the table counts it as invalid instead of silently showing n = 1 of 3."""
    import json

    from bench import table
    from bench.suites import load_suite
    from bench.sweep import pending_cells
    from tests.conftest import write_record

    path = tmp_path / "edited.yaml"
    path.write_text("models: [gru]\nseeds: [0, 1, 2, 3, 4]\ntasks:\n  speech: {datasets: [dtmf]}\n")
    suite = load_suite(str(path), str(tmp_path / "runs"))
    records = [write_record(c.cfg, metrics={"test/acc": 0.5}) for c in suite.cells]
    records[4].write_text("{")  # cut off mid-write
    for record, edit in zip(records[1:4], ({"test/acc": "banana"}, {}, None), strict=True):
        data = json.loads(record.read_text())
        data |= {"metrics": edit} if edit is not None else {"hash": "0123456789ab"}
        record.write_text(json.dumps(data))
    todo = pending_cells(suite)
    assert [c.cfg.seed for c in todo] == [1, 2, 3, 4]
    err = capsys.readouterr().err
    assert f"note: rerunning {records[1].name}: its primary metric test/acc is 'banana', not a number" in err
    assert f"note: rerunning {records[2].name}: its primary metric test/acc is 'None', not a number" in err
    assert f"its hash '0123456789ab' is not its config's {records[3].stem.rsplit('-', 1)[1]}" in err
    assert f"note: rerunning {records[4].name}: the record is unreadable" in err
    (group,) = table.collect(suite)
    assert group.status == {"ok": 1, "invalid": 3} and group.stat("acc")[2] == 1
    assert str(table.grids(suite, [group])[0][1][1][1]).endswith("[3 invalid]")


def test_sigterm_in_data_preparation_and_more_signals_while_recording_leave_a_record(
    tmp_path, capsys, monkeypatch
):
    """Row 6 of issue 30: SIGTERM before Lightning's fit (data preparation) ended the process with no record, and
    a second SIGTERM soon after the first cut the record's writing off. Both signals go to this process, whose
    handler runs at the next bytecode: no sleep, no race."""
    import os
    import signal

    from bench import runner
    from bench.base.batching import TensorDataModule

    real_prepare, real_publish = TensorDataModule.prepare_data, runner.publish

    def prepare(self):
        os.kill(os.getpid(), signal.SIGTERM)  # the first: while the data is prepared
        real_prepare(self)

    def publish(*args):
        os.kill(os.getpid(), signal.SIGTERM)  # the second: while the record is written
        os.kill(os.getpid(), signal.SIGINT)  # and an impatient Ctrl-C
        return real_publish(*args)

    monkeypatch.setattr(TensorDataModule, "prepare_data", prepare)
    monkeypatch.setattr(runner, "publish", publish)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    code, path = run_cli([*TINY, "--max-epochs", "1", "--out", str(tmp_path)], capsys)
    record = json.loads(open(path).read())
    assert code == 130 and record["status"] == "interrupted"
    assert record["reason"] == "interrupted (SIGTERM); rerun to train it again"
    assert (
        signal.getsignal(signal.SIGTERM),
        signal.getsignal(signal.SIGINT),
    ) == before  # the caller's are back
