"""Published figures beside the measured cells: the same row, model and metric, with source and protocol; a
figure measured another way is named without its number; a wrong row, model or metric is one line."""

import pytest

from bench import table
from bench.base.errors import BenchError
from bench.suites import load_suite
from tests.conftest import write_record

SUITE = """
models: [lstm, gru]
clips: [none, "norm:1.0"]
seeds: [0, 1]
tasks:
  probes: {label: T=600, datasets: [adding], seq_len: 600}
  speech: {datasets: [dtmf]}
published:
  - {row: probes/adding T=600, model: lstm, metric: loss, value: 0.164, source: "TCN, Table 1",
     protocol: "T = 600, MSE, 1,000 test sequences"}
  - {row: speech/dtmf, model: gru, metric: acc, value: 0.9, source: "a paper", protocol: "all 10 digits",
     differs: "another split"}
"""


def test_published_figures_stand_beside_the_same_model_in_the_same_metric(tmp_path):
    path = tmp_path / "lit.yaml"
    path.write_text(SUITE)
    suite = load_suite(str(path), str(tmp_path / "runs"))
    for cell in suite.cells:
        value = 0.16 + cell.cfg.seed / 100 if cell.cfg.task == "probes" else 0.8
        write_record(cell.cfg, metrics={f"test/{'loss' if cell.cfg.task == 'probes' else 'acc'}": value})
    title, rows = next(g for g in table.grids(suite, table.collect(suite)) if g[0].startswith("published"))
    assert rows[0][:4] == ["task / dataset", "model", "published", "ours (mean ± std over seeds)"]
    adding, dtmf = rows[1:]
    assert [adding[0], adding[1], str(adding[2])] == ["probes/adding T=600", "lstm", "0.164"]
    assert adding[3] == "none: 0.1650 ± 0.0071 (n=2); norm:1.0: 0.1650 ± 0.0071 (n=2)"
    assert adding[4:] == ["TCN, Table 1", "T = 600, MSE, 1,000 test sequences"]
    assert str(dtmf[2]) == "not comparable" and "0.9" not in str(dtmf[2])
    assert dtmf[5] == "all 10 digits; differs: another split"
    assert "published figures beside ours" in table.to_markdown(suite, table.collect(suite))


@pytest.mark.parametrize(
    "entry, message",
    [
        (
            "{row: probes/adding, model: lstm, metric: loss, value: 1, source: s, protocol: p}",
            "rows: probes/adding T=600",
        ),
        (
            "{row: speech/dtmf, model: rnn, metric: acc, value: 1, source: s, protocol: p}",
            "model 'rnn', which row",
        ),
        (
            "{row: speech/dtmf, model: lstm, metric: loss, value: 1, source: s, protocol: p}",
            "whose metric is 'acc'",
        ),
        ("{row: speech/dtmf, model: lstm, metric: acc, value: 1, protocol: p}", "each needs metric, model"),
        (
            "{row: speech/dtmf, model: lstm, metric: acc, value: high, source: s, protocol: p}",
            "must be a number",
        ),
    ],
)
def test_a_published_figure_that_cannot_stand_beside_a_cell_is_refused(tmp_path, entry, message):
    path = tmp_path / "lit.yaml"
    path.write_text(SUITE.split("published:")[0] + f"published:\n  - {entry}\n")
    with pytest.raises(BenchError, match=message):
        load_suite(str(path), str(tmp_path / "runs"))
