"""The results table's cell: all seeds of one (row, column), and its statistics. Its own module, below the
table, the suites and the findings, which all read it (no import circle between them).

run: python -c "from bench.groups import Group; print(Group('r', 'c', 'acc', True, {'acc': [0.5, 0.7]}).stat('acc'))"
"""

import math
import statistics
from dataclasses import dataclass, field


@dataclass
class Group:
    """All seeds of one (row, col) cell."""

    row: str
    col: str
    primary: str
    higher_is_better: bool
    values: dict[str, list[float]] = field(default_factory=dict)  # metric -> one value per ok run
    status: dict[str, int] = field(default_factory=dict)
    best: bool = False  # the row's best mean, significantly better than every other cell
    tied: bool = False  # not significantly different from the row's best mean (the best itself, if tied)
    curves: list[list[dict]] = field(default_factory=list)  # per-epoch history of each run, for plots
    profiles: list[list[float]] = field(default_factory=list)  # temporal gradient profile of each run
    baselines: dict[str, float] = field(default_factory=dict)  # name -> the baseline's primary test metric
    capped: int = 0  # runs that --max-minutes stopped before their epochs: machine-dependent results
    clip_fired: list[bool] = field(default_factory=list)  # per run with a clip setting: did it ever clip?

    def stat(self, metric: str) -> tuple[float, float, int]:
        # NaN means "not measured"; infinity is kept: a gradient reach of -inf means the earliest step's
        # gradient underflowed to zero
        v = [x for x in self.values.get(metric, []) if x is not None and not math.isnan(x)]
        if not v:
            return math.nan, math.nan, 0
        if not all(map(math.isfinite, v)):
            return statistics.fmean(v), math.nan, len(v)
        return statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else 0.0, len(v)

    def finite(self, metric: str) -> list[float]:
        return [v for v in self.values.get(metric, []) if math.isfinite(v)]


ALPHA = 0.05  # the significance level of every test the table and the findings make


def p_value(x: list[float], y: list[float] | float) -> float:
    """Two-sided p of a difference in means: Welch's t-test of runs x against runs y, or a one-sample t-test
    against a number y (a baseline). Fewer than two runs on a side: 1 (no evidence). No spread on either side:
    0 or 1, as the means differ or not (the t statistic is undefined, the answer is not)."""
    one = isinstance(y, int | float)
    if len(x) < 2 or (not one and len(y) < 2):
        return 1.0
    if statistics.pvariance(x) == 0 and (one or statistics.pvariance(y) == 0):
        return 0.0 if statistics.fmean(x) != (y if one else statistics.fmean(y)) else 1.0
    from scipy.stats import ttest_1samp, ttest_ind

    test = ttest_1samp(x, y) if one else ttest_ind(x, y, equal_var=False)
    return float(test.pvalue)
