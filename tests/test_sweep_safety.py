"""Sweeps own their cells: a lock per cell, no orphans, Ctrl-C records running cells as interrupted, a kill -9
and a resume lose no finished cell and run none twice, and a resumed sweep fails while a cell is failed."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from bench.cli import main
from bench.config import resolve
from bench.locks import CellBusy, cell_lock, pid_alive, process_start, run_lock
from bench.records import read_record, record_paths
from bench.suites import load_suite
from tests.conftest import ROOT, usage_error, write_record

SUITE = """
models: [rnn, gru]
clips: [none]
seeds: [0, 1]
common: {threads: 1, max_epochs: 20, patience: 20, hidden_size: 8}
tasks:
  speech: {datasets: [dtmf], train_limit: 64}
"""


@pytest.fixture
def suite_file(tmp_path):
    path = tmp_path / "four.yaml"
    path.write_text(SUITE)
    return path


def start_sweep(suite_file, out, jobs=1):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "bench", "sweep", str(suite_file), "--out", str(out), "--jobs", str(jobs)]
    # Ctrl-C reaches the sweep even where this test runs with SIGINT ignored (a background job of a shell
    # ignores it, and a child inherits that): the sweep gets the default, as from a terminal
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for(condition, timeout=120.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def training(out, stem: str) -> bool:
    """The event a test waits for: the cell's run process printed its first epoch line (it is in training,
    with 19 epochs still to go), so a signal sent now reaches a run, not an import or a finished process."""
    log = out / "logs" / f"{stem}.log"
    return log.is_file() and "epoch 0: " in log.read_text() and not (out / f"{stem}.json").exists()


def owners(out) -> dict:
    """Cell stem -> its lock's owner (sweep pid, run process pid)."""
    found = {}
    for p in (out / "locks").glob("*.owner") if (out / "locks").is_dir() else []:
        try:
            found[p.stem] = json.loads(p.read_text())
        except (OSError, ValueError):  # removed or replaced while read
            pass
    return found


def finished(suite):
    out = {}
    for cell in suite.cells:
        path = record_paths(cell.cfg)[0]
        rec = read_record(path, warn=False)
        if rec and rec.status == "ok":
            out[path] = path.read_text()
    return out


def starts(out) -> list[str]:
    log = out / "logs" / "sweep.log"
    return [line.split()[3] for line in log.read_text().splitlines() if line.split()[2] == "start"]


def refused(path, match: str) -> None:
    """Taking the cell lock of `path` fails with CellBusy, naming `match`."""
    with pytest.raises(CellBusy, match=match), cell_lock(path):
        pass


def test_cell_lock_is_exclusive_and_names_its_owner(tmp_path):
    path = tmp_path / "cell.json"
    with cell_lock(path) as held:
        held.started(os.getpid())  # a live "run process"
        refused(path, f"running in sweep pid {os.getpid()}")
    with cell_lock(path):  # released: free again
        pass


def test_orphan_run_process_keeps_its_cell_and_dead_owner_is_stale(tmp_path):
    path = tmp_path / "cell.json"
    orphan = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"])
    try:
        with cell_lock(path) as held:
            held.started(orphan.pid)
            held.owner_file.write_text(
                held.owner_file.read_text()
            )  # the sweep dies: its OS lock goes, file stays
            saved = held.owner_file.read_text()
        (tmp_path / "locks" / "cell.owner").write_text(saved)
        refused(path, f"run process pid {orphan.pid} of a stopped sweep")
    finally:
        orphan.kill()
        orphan.wait()
    assert not pid_alive(orphan.pid)
    with cell_lock(path) as held:  # the orphan ended: its owner file is stale and taken over
        assert held.stale["child"] == orphan.pid


def test_an_owner_file_whose_pid_was_reused_is_stale(tmp_path):
    """A kill -9'd sweep's owner file names a run pid that the OS later gave to another process: that process
    started at another time, so the cell is free (it used to stay refused until the file was deleted by hand)."""
    path = tmp_path / "cell.json"
    other = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"])  # the pid's new owner
    try:
        (tmp_path / "locks").mkdir()
        owner = {
            "pid": 1,
            "host": socket.gethostname(),
            "child": other.pid,
            "child_start": 1,
        }  # started at tick 1
        (tmp_path / "locks" / "cell.owner").write_text(json.dumps(owner))
        with cell_lock(path) as held:
            assert held.stale["child"] == other.pid
        owner["child_start"] = process_start(other.pid)  # the run process itself: still refused
        (tmp_path / "locks" / "cell.owner").write_text(json.dumps(owner))
        refused(path, f"run process pid {other.pid} of a stopped sweep")
    finally:
        other.kill()
        other.wait()


def test_a_plain_run_holding_a_cell_is_named_as_a_run(tmp_path):
    path = tmp_path / "cell.json"
    with run_lock(path):
        refused(path, f"running in run pid {os.getpid()}")


@pytest.mark.slow
def test_kill_9_of_a_sweep_then_resume_loses_nothing_and_runs_nothing_twice(suite_file, tmp_path):
    out = tmp_path / "runs"
    suite = load_suite(str(suite_file), str(out))
    sweep = start_sweep(suite_file, out, jobs=1)

    def training_after_a_finished_one():
        done = {p.stem for p in finished(suite)}
        return done and [s for s, o in owners(out).items() if o.get("child") and training(out, s)]

    wait_for(training_after_a_finished_one)
    done = finished(suite)
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    ((stem, child),) = [(s, o["child"]) for s, o in owners(out).items() if s not in {p.stem for p in done}]
    wait_for(lambda: not pid_alive(child), timeout=30)  # the run process died with its sweep: no orphan
    killed = len(starts(out)) - len(done)
    assert killed == 1 and finished(suite) == done
    # its SIGTERM from the dying sweep ended it as a record, not as nothing (issue 30, row 6)
    assert (
        json.loads((out / f"{stem}.json").read_text())["reason"]
        == "interrupted (SIGTERM); rerun to train it again"
    )
    assert main(["sweep", str(suite_file), "--out", str(out)]) == 0
    after = finished(suite)
    assert len(after) == 4 and all(after[p] == text for p, text in done.items())  # finished cells untouched
    names = starts(out)
    assert sorted(set(names)) == sorted(p.stem for p in after)
    assert len(names) == 4 + killed  # each cell started once, plus the one the kill stopped


@pytest.mark.slow
def test_two_sweeps_on_one_folder_run_each_cell_once(suite_file, tmp_path):
    out = tmp_path / "runs"
    first, second = start_sweep(suite_file, out), start_sweep(suite_file, out)
    codes = [first.wait(timeout=300), second.wait(timeout=300)]
    suite = load_suite(str(suite_file), str(out))
    assert len(finished(suite)) == 4 and 0 in codes
    names = starts(out)
    assert sorted(names) == sorted(set(names)) and len(names) == 4  # no cell ran twice


@pytest.mark.slow
def test_ctrl_c_records_running_cells_as_interrupted_and_resume_reruns_them(suite_file, tmp_path):
    out = tmp_path / "runs"
    suite = load_suite(str(suite_file), str(out))
    sweep = start_sweep(suite_file, out, jobs=2)
    wait_for(lambda: len([s for s, o in owners(out).items() if o.get("child") and training(out, s)]) == 2)
    sweep.send_signal(signal.SIGINT)
    _, err = sweep.communicate(timeout=120)
    assert sweep.returncode == 130 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("error: interrupted; ")
    statuses = [r.status for c in suite.cells if (r := read_record(record_paths(c.cfg)[0], warn=False))]
    assert "failed" not in statuses and statuses.count("interrupted") == 2  # both were in training
    assert main(["sweep", str(suite_file), "--out", str(out)]) == 0  # interrupted cells rerun without flags
    assert len(finished(suite)) == 4


def test_resumed_sweep_fails_while_a_cell_is_failed_and_names_it(suite_file, tmp_path, capsys):
    out = tmp_path / "runs"
    suite = load_suite(str(suite_file), str(out))
    for cell in suite.cells:
        write_record(cell.cfg)
    bad = write_record(suite.cells[2].cfg, "failed", reason="boom")
    assert main(["sweep", str(suite_file), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"error: 1 cells failed: {bad.stem}; logs in {out}/logs, rerun them with --retry-failed" in err


def test_a_run_of_a_config_that_is_running_is_refused(tmp_path, capsys):
    args = ["run", "--dataset", "dtmf", "--hidden-size", "8", "--out", str(tmp_path)]
    path = record_paths(resolve({"dataset": "dtmf", "hidden_size": 8, "out": str(tmp_path)}))[0]
    with cell_lock(path) as held:
        held.started(os.getpid())
        error = usage_error(args, capsys)
    assert error.startswith(f"error: this config is already being run (running in sweep pid {os.getpid()}")
    assert not path.exists()


def test_a_cell_whose_data_is_bad_input_is_a_failed_record_with_its_one_line(tmp_path, capsys):
    """A run exits 2 on unusable data and writes nothing; in a sweep the cell becomes a failed record whose
    reason is that line, not 'exited with code 2'."""
    csv = tmp_path / "x.csv"
    csv.write_text("date,OT\n2020-01-01 00:00:00,1\n2020-01-01 01:00:00,oops\n")
    suite_file = tmp_path / "bad.yaml"
    suite_file.write_text(f"models: [gru]\ntasks:\n  forecast: {{datasets: ['csv:{csv}']}}\n")
    out = tmp_path / "runs"
    assert main(["sweep", str(suite_file), "--out", str(out)]) == 1
    (record,) = [json.loads(p.read_text()) for p in out.glob("*.json")]
    assert record["status"] == "failed" and record["reason"].startswith("non-numeric value 'oops' in ")
