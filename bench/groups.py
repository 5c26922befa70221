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
    if one:  # one-sample t-test
        t = (statistics.fmean(x) - y) / math.sqrt(statistics.variance(x) / len(x))
        df = len(x) - 1.0
    else:  # Welch: unequal variances, Welch-Satterthwaite degrees of freedom
        a, b = statistics.variance(x) / len(x), statistics.variance(y) / len(y)
        t = (statistics.fmean(x) - statistics.fmean(y)) / math.sqrt(a + b)
        df = (a + b) ** 2 / (a * a / (len(x) - 1) + b * b / (len(y) - 1))
    return _beta_inc(df / 2, 0.5, df / (df + t * t))  # P(|T_df| >= |t|)


def _beta_inc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), by its continued fraction (Numerical Recipes, 6.4),
    so the table's tests need no scipy (an import of a second): tests/test_groups.py checks it against scipy."""
    if x <= 0.0 or x >= 1.0:
        return 0.0 if x <= 0.0 else 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast on this side; use the symmetry otherwise
        return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b
    return front * _beta_fraction(a, b, x) / a


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        for num in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h
