"""The table's and the findings' t-tests (bench.groups.p_value) give scipy's p-values, without importing scipy.

run: pytest tests/test_groups.py
"""

import random

import pytest
from scipy.stats import ttest_1samp, ttest_ind

from bench.groups import p_value


def samples(seed: int) -> tuple[list[float], list[float]]:
    rng = random.Random(seed)
    scale = 10 ** rng.uniform(-6, 4)  # MSEs of 1e-5 and losses of 1e3 alike
    x = [rng.gauss(0, scale * rng.uniform(0.1, 3)) for _ in range(rng.randint(2, 12))]
    y = [
        rng.gauss(rng.uniform(-3, 3) * scale, scale * rng.uniform(0.1, 3)) for _ in range(rng.randint(2, 12))
    ]
    return x, y


@pytest.mark.parametrize("seed", range(100))
def test_welch_and_one_sample_p_values_equal_scipys(seed):
    x, y = samples(seed)
    assert p_value(x, y) == pytest.approx(ttest_ind(x, y, equal_var=False).pvalue, rel=1e-9, abs=1e-300)
    assert p_value(x, y[0]) == pytest.approx(ttest_1samp(x, y[0]).pvalue, rel=1e-9, abs=1e-300)


def test_p_values_at_the_edges():
    assert p_value([1.0, 2.0], [1.5, 1.5000001]) == pytest.approx(
        ttest_ind([1.0, 2.0], [1.5, 1.5000001], equal_var=False).pvalue, rel=1e-9
    )
    far = ttest_ind([0.0, 0.001, 0.002], [5.0, 5.001, 5.003], equal_var=False).pvalue  # about 1e-7
    assert p_value([0.0, 0.001, 0.002], [5.0, 5.001, 5.003]) == pytest.approx(far, rel=1e-9)
    assert p_value([1.0], [2.0, 3.0]) == 1.0  # one run: no evidence
    assert p_value([2.0, 2.0], [2.0, 2.0]) == 1.0 and p_value([2.0, 2.0], 3.0) == 0.0  # no spread
