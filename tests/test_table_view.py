"""How tables read: one number style per row, words for non-finite values, a terminal layout that fits the
width and never cuts a number or a row label, and an HTML report that opens with its figures."""

import math
import re

import pytest

from bench import table
from bench.numbers import Style, style_of
from bench.suites import load_suite
from bench.terminal import pivot_width, print_grids
from tests.conftest import write_record

SUITE = """
models: [rnn, lstm, gru, mingru]
clips: [none]
seeds: [0, 1, 2]
tasks:
  probes: {datasets: [adding], hidden_size: 8}
  speech: {datasets: [dtmf], hidden_size: 8}
"""
# (row, model) -> test value per seed: adding spans three decades, dtmf does not
VALUES = {
    "probes/adding": {"rnn": [0.1715, 0.1709, 0.1721], "lstm": [4.9e-4, 2.1e-4, 7.6e-4]},
    "speech/dtmf": {"rnn": [0.551, 0.52, 0.58], "lstm": [0.787, 0.77, 0.80]},
}
DEFAULT = {"probes/adding": [5.6e-5, 4.2e-5, 7.1e-5], "speech/dtmf": [0.728, 0.72, 0.735]}


@pytest.fixture
def suite_groups(tmp_path):
    path = tmp_path / "view.yaml"
    path.write_text(SUITE)
    suite = load_suite(str(path), str(tmp_path / "runs"))
    for cell in suite.cells:
        task_metric = "loss" if cell.cfg.task == "probes" else "acc"
        value = VALUES[cell.row].get(cell.cfg.model, DEFAULT[cell.row])[cell.cfg.seed]
        reach = -math.inf if cell.cfg.model == "rnn" and cell.cfg.seed < 2 else -1.5
        write_record(
            cell.cfg,
            metrics={f"test/{task_metric}": value, f"val/{task_metric}": value},
            grad_summary={"grad/reach": reach},
            wall_time_s=12.5,
            params=1234,
            steps_per_s=40.0,
        )
    return suite, table.collect(suite)


@pytest.fixture
def grids(suite_groups):
    return table.grids(*suite_groups)


def test_a_row_spanning_decades_is_scientific_throughout_and_others_share_their_decimals():
    adding = style_of([(0.1715, 6e-4, 3), (4.87e-4, 3.2e-4, 3), (5.6e-5, 1.4e-5, 3)])
    assert adding.stat(0.1715, 6e-4, 3) == "1.72e-01 ± 6.00e-04"
    assert adding.stat(5.6e-5, 1.4e-5, 3) == "5.60e-05 ± 1.40e-05"
    fsdd = style_of([(0.5511, 0.0347, 3), (0.7867, 0.0153, 3)])  # two digits of the smallest spread
    assert [fsdd.stat(0.5511, 0.0347, 3), fsdd.stat(0.7867, 0.0153, 3)] == ["0.551 ± 0.035", "0.787 ± 0.015"]
    assert style_of([(25345, 0, 3), (4737, 0, 3)], integer=True).stat(25345, 0, 3) == "25345 ± 0"
    assert style_of([(9.4, 0, 1)]).stat(9.4, 0, 1) == "9.400"  # no spread: four significant digits


def test_non_finite_values_are_words():
    s = Style()
    assert s.stat(-math.inf, math.nan, 3) == "underflow"
    assert s.stat(math.inf, math.nan, 2) == "overflow"
    assert s.stat(math.nan, math.nan, 1) == "undefined"
    assert s.stat(0.0, 0.0, 0) == "–"
    assert style_of([(-math.inf, math.nan, 3), (-1.2, 0.1, 3)]).stat(-1.2, 0.1, 3) == "-1.20 ± 0.10"


@pytest.mark.parametrize("width", [80, 120, 200])
def test_the_terminal_table_fits_the_width_and_cuts_nothing(grids, width, capsys):
    print_grids(grids, width=width)
    out = capsys.readouterr().out
    assert "…" not in out and "nan" not in out and "inf" not in out
    assert all(len(line) <= width for line in out.splitlines()), max(map(len, out.splitlines()))
    for _, rows in grids:  # every row label and every number, whole, on one line
        for r in rows[1:]:
            assert re.search(rf"(^|\s){re.escape(r[0])}(\s|$)", out, re.M), r[0]
            for cell in r[1:]:
                text = getattr(cell, "text", str(cell))
                assert text == "–" or text in out, (text, width)
    assert "1.71e-01 ± 6.00e-04" in out and "5.63e-05 ± 1.45e-05" in out  # the adding row, one style
    assert "underflow" in out  # two of the RNN's three reaches underflowed: the mean is -inf


def test_auto_layout_is_the_pivot_where_it_fits_and_the_long_layout_elsewhere(grids, capsys):
    main_table = grids[0][1]
    assert 120 < pivot_width(main_table) <= 200
    print_grids(grids[:1], width=200)
    wide = capsys.readouterr().out
    assert "│" in wide and wide.count("probes/adding") == 1
    print_grids(grids[:1], width=120)
    long = capsys.readouterr().out
    assert "│" not in long and re.search(r"^  lstm none +4\.87e-04 ± 2\.75e-04 +n=3", long, re.M), long
    print_grids(grids[:1], layout="wide", width=80)  # forced: printed whole, never squeezed
    assert "…" not in capsys.readouterr().out


def test_the_report_opens_with_a_figure_per_task_then_the_tables(suite_groups):
    from bench.report import log_axis, task_figure, to_html

    suite, groups = suite_groups
    page = to_html(suite, groups)
    first_table = page.index("<table")
    figures = re.findall(r"<figure><img src=\"data:image/png;base64,[^\"]+\"><figcaption>([^<]*)", page)
    assert len(figures) == 3 and page.index("<figure>") < first_table  # probes, speech, the reach
    assert all(page.index(f) < first_table for f in figures)
    assert "probes: the test loss of every model and clip, mean ± std over 3 seeds" in figures[0]
    assert "log axis for probes/adding" in figures[0] and "log axis" not in figures[1]
    assert "gradient" in figures[2] and "underflowed (-inf) are left out" in figures[2]
    fig, _ = task_figure(suite, groups, "probes")
    assert fig.axes[0].get_yscale() == "log"
    assert log_axis([0.17, 5e-5]) and not log_axis([0.55, 0.79]) and not log_axis([0.17, -0.01])
