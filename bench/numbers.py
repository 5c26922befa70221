"""How the tables write a statistic: one style per row, the same precision for a mean and its spread, and words
for what is not a number.

A row whose means span more than two decades (an RNN at 0.17 beside a GRU at 5e-05), or whose means are all
below 1e-3, is written in scientific notation throughout; any other row in fixed point, with as many decimals
as show its smallest spread to two significant digits, for every cell of the row. A mean of -inf is a gradient
that underflowed to zero ("underflow"), +inf one that overflowed, NaN a value that is undefined (a reach whose
last step's gradient is zero): words, never "nan" or "inf ± nan".

run: python -c "from bench.numbers import Style, style_of; s = style_of([(0.1715, 6e-4, 3), (5.6e-5, 1.4e-5, 3)]); print(s.stat(0.1715, 6e-4, 3))"
"""

import math
from dataclasses import dataclass

DECADES = 2  # a row spanning more than this many decades of means is written in scientific notation
MAX_DECIMALS = 6


@dataclass(frozen=True)
class Style:
    """'e' (scientific, `digits` after the point of the mantissa) or 'f' (fixed, `digits` decimals)."""

    kind: str = "f"
    digits: int = 3

    def number(self, x: float) -> str:
        if math.isnan(x):
            return "undefined"
        if math.isinf(x):
            return "underflow" if x < 0 else "overflow"
        return f"{x:.{self.digits}{self.kind}}"

    def stat(self, mean: float, std: float, n: int) -> str:
        """'mean ± std' in this style; the mean alone for one run or a non-finite mean; '–' for none."""
        if n == 0:
            return "–"
        if n == 1 or not math.isfinite(mean) or not math.isfinite(std):
            return self.number(mean)
        return f"{self.number(mean)} ± {self.number(std)}"


def style_of(stats: list[tuple[float, float, int]], integer: bool = False) -> Style:
    """The style of one row from its cells' (mean, std, n); `integer` rows (parameter counts) have no decimals."""
    means = [abs(m) for m, _, n in stats if n and math.isfinite(m) and m != 0]
    if integer or not means:
        return Style("f", 0 if integer else 3)
    if max(means) / min(means) > 10**DECADES or max(means) < 1e-3:
        return Style("e", 2)
    spreads = [s for _, s, n in stats if n > 1 and math.isfinite(s) and s > 0]
    # two significant digits of the smallest spread; without one, four of the smallest mean
    smallest, significant = (min(spreads), 2) if spreads else (min(means), 4)
    decimals = significant - 1 - math.floor(math.log10(smallest))
    return Style("f", min(max(decimals, 0), MAX_DECIMALS))
