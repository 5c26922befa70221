"""The Record type: one schema for runner, sweep, table and generate; older records read into it."""

import json

import pytest

import tasks
from bench import table
from bench.config import resolve
from bench.records import Record, Status, read_record
from bench.suites import load_suite
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
