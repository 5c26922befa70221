"""The Record type: one schema for runner, sweep, table and generate; older records read into it."""

import json

import pytest

from bench import table, tasks
from bench.config import config_hash, from_saved, resolve
from bench.records import Record, Status, read_record, record_paths, write_json
from bench.suites import load_suite
from bench.sweep import pending_cells
from tests.conftest import ROOT, write_record


def test_a_record_round_trips_through_json_with_its_status_an_enum(tmp_path):
    cfg = resolve({"task": "probes", "out": str(tmp_path)})
    record = Record.start(cfg, tasks.get("probes"))
    assert (record.status, record.primary_metric, record.higher_is_better) == (Status.FAILED, "loss", False)
    record.status, record.metrics, record.extras = Status.OK, {"test/loss": 0.5}, {"loss_over_baseline": 0.1}
    again = Record.from_json(json.loads(json.dumps(record.to_json())))
    assert again == record and again.status is Status.OK and again.finished


def test_a_record_from_before_the_extras_section_reads_its_task_keys_into_extras():
    path = next((ROOT / "results" / "standard").glob("lm-*.json"))  # written with task keys at the top level
    record = read_record(path)
    assert record.status is Status.OK and record.task == "lm"
    assert record.extras["level"] == "char" and record.extras["sample"]["text"]


@pytest.mark.parametrize(
    "data", [{"status": "ok"}, {"task": "lm"}, {**dict.fromkeys(("a", "b")), "status": "?"}]
)
def test_what_is_not_a_record_is_skipped_with_a_warning(tmp_path, data, capsys):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    assert read_record(path) is None
    assert f"warning: skipping unreadable record {path}" in capsys.readouterr().err


def test_the_table_takes_the_metric_and_its_direction_from_the_records(tmp_path):
    """Records say what their primary metric was; a table of them does not ask today's code."""
    (tmp_path / "s.yaml").write_text(
        "models: [gru, lstm]\nseeds: [0, 1]\ntasks: {speech: {datasets: [dtmf]}}\n"
    )
    suite = load_suite(str(tmp_path / "s.yaml"), str(tmp_path / "runs"))
    for cell in suite.cells:  # as if the runs had ranked by error rate, lower is better
        err = {"gru": 0.2, "lstm": 0.4}[cell.cfg.model] + cell.cfg.seed / 100
        write_record(cell.cfg, primary_metric="err", higher_is_better=False, metrics={"test/err": err})
    groups = table.collect(suite)
    assert {(g.primary, g.higher_is_better) for g in groups} == {("err", False)}
    assert [g.col for g in groups if g.best] == ["gru none"]


def test_the_stand_in_an_older_sweep_wrote_for_a_killed_run_still_counts_as_failed(tmp_path):
    """{status, reason, task, config} was all a sweep wrote when a run process died: it reads, takes its
    identity from its config, and a resume leaves it alone unless asked to retry failed cells."""
    (tmp_path / "s.yaml").write_text("models: [gru]\ntasks: {speech: {datasets: [dtmf]}}\n")
    suite = load_suite(str(tmp_path / "s.yaml"), str(tmp_path / "runs"))
    cfg = suite.cells[0].cfg
    stand_in = {
        "status": "failed",
        "reason": "exit -9",
        "task": "speech",
        "config": {"model": "gru", "seed": 0},
    }
    write_json(record_paths(cfg)[0], stand_in)
    record = read_record(record_paths(cfg)[0])
    assert (record.status, record.model, record.task, record.primary_metric) == (
        Status.FAILED,
        "gru",
        "speech",
        "",
    )
    assert pending_cells(suite) == [] and pending_cells(suite, retry_failed=True) == suite.cells
    assert [g.primary for g in table.collect(suite)] == ["acc"]  # the task's metric where the record has none


def test_a_saved_config_hashes_as_it_was_saved():
    """generate checks a checkpoint against its record by hashing the config as saved, so an option added to
    the task since then does not make an old run look replaced."""
    for path in sorted((ROOT / "results" / "standard").glob("*.json"))[:20]:
        saved = json.loads(path.read_text())
        assert config_hash(saved["config"]) == saved["hash"] == config_hash(from_saved(saved["config"]))
