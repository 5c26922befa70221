"""A suite's findings: the direction of each row's story, checked on a results table, so that a change that
breaks learning cannot land by regenerating the reference.

In a suite file:

    findings:
      - {row: speech/fsdd, cell: lstm none, above: rnn none}       # mean primary metric, cell vs cell
      - {row: lm/tiny-shakespeare, cell: "*", below: baseline unigram}  # every cell vs a recorded baseline
      - {row: probes/adding, cell: lstm norm:1.0, below: 0.05}      # vs a number

`above` / `below` compare the means of the row's primary metric over the seeds, as the table shows them.

run: python -m bench reproduce ci   (checks the findings after the comparison)
"""

import math

from bench.base.errors import BenchError
from bench.groups import Group

KEYS = {"row", "cell", "above", "below"}


def check_spec(findings, where: str) -> list[dict]:
    """The suite's findings, validated: each a mapping with row, cell and exactly one of above / below."""
    if not isinstance(findings, list):
        raise BenchError(f"{where}: 'findings' must be a list of {{row, cell, above|below}} mappings")
    for f in findings:
        ok = (
            isinstance(f, dict)
            and {"row", "cell"} <= set(f) <= KEYS
            and len(set(f) & {"above", "below"}) == 1
        )
        if not ok:
            raise BenchError(f"{where}: bad finding {f!r}; each needs row, cell and one of above / below")
    return findings


def _means(groups: list[Group]) -> dict[tuple[str, str], float]:
    """(row, "model clip") -> mean of the row's primary metric (cells with runs); baselines as
    (row, "baseline NAME")."""
    means = {(g.row, g.col): g.stat(g.primary)[0] for g in groups if g.stat(g.primary)[2]}
    for g in groups:
        means |= {(g.row, f"baseline {name}"): v for name, v in g.baselines.items()}
    return means


def check(findings: list[dict], groups: list[Group]) -> list[tuple[str, bool]]:
    """(the finding in words with the numbers, whether it holds) for each finding, on the table's groups. A cell
    or baseline missing from the table makes its finding fail."""
    means, out = _means(groups), []
    for f in findings:
        row, cells = f["row"], [f["cell"]]
        if f["cell"] == "*":
            cells = sorted(c for r, c in means if r == row and not c.startswith("baseline "))
        op = "above" if "above" in f else "below"
        target = f[op]
        ref = float(target) if isinstance(target, int | float) else means.get((row, str(target)), math.nan)
        for cell in cells or [f["cell"]]:
            value = means.get((row, cell), math.nan)
            holds = value > ref if op == "above" else value < ref
            named = "" if isinstance(target, int | float) else f"{target} "  # a number is not named twice
            out.append((f"{row}: {cell} {value:.4g} {op} {named}{ref:.4g}", bool(holds)))
    return out
