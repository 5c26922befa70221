"""A suite's findings: the direction of each row's story, checked on a results table."""

import math

import pytest

from bench.base.errors import BenchError
from bench.findings import check, check_spec
from bench.groups import Group


def cell(col: str, accs: list[float], failed: int = 0) -> Group:
    g = Group("speech/fsdd", col, "acc", True, values={"acc": accs, "loss": [0.5] * len(accs)})
    g.status, g.baselines = {"ok": len(accs), "failed": failed}, {"chance": 0.1}
    return g


GROUPS = [
    cell("lstm none", [0.78, 0.8, 0.82]),
    cell("rnn none", [0.57, 0.6, 0.63]),
    cell("gru none", [], failed=3),
]


def test_findings_compare_cells_baselines_and_numbers():
    findings = [
        {"row": "speech/fsdd", "cell": "lstm none", "above": "rnn none"},
        {"row": "speech/fsdd", "cell": "*", "above": "baseline chance"},
        {"row": "speech/fsdd", "cell": "rnn none", "below": 0.5},  # 0.6: does not hold
        {"row": "speech/fsdd", "cell": "gru none", "above": 0.1},  # every gru run failed: no mean, fails
    ]
    got = check(findings, GROUPS)
    assert [h for _, h in got] == [True, True, True, False, False]
    assert got[0][0] == "speech/fsdd: lstm none 0.8 above rnn none 0.6"
    assert got[1][0] == "speech/fsdd: lstm none 0.8 above baseline chance 0.1"  # "*": each cell with runs


def test_a_claimed_difference_must_be_significant_over_the_seeds():
    """'Clipping changes the RNN's outcome' at p = 0.14 is a direction, not a finding: significant: true fails it."""
    groups = [*GROUPS, cell("rnn norm:1.0", [0.55, 0.66, 0.7]), cell("lstm same", [0.8, 0.8, 0.8])]
    findings = [
        {"row": "speech/fsdd", "cell": "lstm none", "above": "rnn none", "significant": True},  # p ~ 0.001
        {"row": "speech/fsdd", "cell": "rnn norm:1.0", "above": "rnn none", "significant": True},  # p = 0.51
        {"row": "speech/fsdd", "cell": "rnn none", "above": "baseline chance", "significant": True},
        {"row": "speech/fsdd", "cell": "lstm same", "above": 0.79, "significant": True},  # no spread, above
        {"row": "speech/fsdd", "cell": "rnn norm:1.0", "above": "rnn none"},  # the direction alone holds
    ]
    got = check(findings, groups)
    assert [h for _, h in got] == [True, False, True, True, True]
    assert got[0][0].startswith(
        "speech/fsdd: lstm none 0.8 above rnn none 0.6, significant over seeds (p = 0.00"
    )
    assert got[1][0].endswith("(p = 0.51, needs < 0.05)")
    with pytest.raises(BenchError, match="optionally significant: true"):
        check_spec([{"row": "r", "cell": "c", "above": 1, "significant": "yes"}], "suite s.yaml")


@pytest.mark.parametrize(
    "spec", [{"row": "r", "cell": "c"}, {"row": "r", "cell": "c", "above": 1, "below": 2}, ["r"], "x"]
)
def test_bad_findings_are_one_line(spec):
    with pytest.raises(BenchError, match="needs row, cell and one of above / below|must be a list"):
        check_spec(spec if isinstance(spec, str) else [spec], "suite s.yaml")


def test_ties_and_other_metrics_are_findings_too():
    """'All six gated cells are tied' and 'the RNN's reach is -inf' are sentences the README makes."""
    groups = [*GROUPS, cell("gru norm:1.0", [0.79, 0.8, 0.83])]
    groups[1].values["grad/reach"] = [-math.inf, -7.3, math.nan]  # NaN: a saturated run, not measured
    groups[0].values["grad/reach"] = [0.9, 1.0, 0.6]
    findings = [
        {"row": "speech/fsdd", "cell": "lstm none", "tied": "gru norm:1.0"},
        {"row": "speech/fsdd", "cell": "lstm none", "tied": "rnn none"},
        {"row": "speech/fsdd", "cell": "rnn none", "metric": "grad/reach", "below": -5},
        {"row": "speech/fsdd", "cell": "lstm none", "metric": "grad/reach", "above": "rnn none"},
        {"row": "speech/fsdd", "cell": "lstm none", "metric": "grad/norm", "above": 0},  # never recorded
    ]
    got = check(findings, groups)
    assert [h for _, h in got] == [True, False, True, True, False]
    assert got[0][0].startswith("speech/fsdd: lstm none 0.8 tied with gru norm:1.0 0.8067 (p = ")
    assert got[2][0] == "speech/fsdd: rnn none grad/reach -inf below -5"
    with pytest.raises(BenchError, match="one of above / below / tied"):
        check_spec([{"row": "r", "cell": "c", "above": 1, "tied": "d"}], "suite s.yaml")
