"""A suite's findings: the direction of each row's story, checked on a results table, so that a change that
breaks learning cannot land by regenerating the reference.

In a suite file:

    findings:
      - {row: speech/fsdd, cell: lstm none, above: rnn none}       # mean primary metric, cell vs cell
      - {row: lm/tiny-shakespeare, cell: "*", below: baseline unigram}  # every cell vs a recorded baseline
      - {row: probes/adding, cell: lstm norm:1.0, below: 0.05}      # vs a number

`above` / `below` compare the means of the row's primary metric over the seeds, as the table shows them.
`significant: true` also asks that the difference be significant over the seeds at p < 0.05 (Welch's t-test
against another cell; a one-sample t-test against a number or a baseline): a README sentence that claims a
difference is such a finding.

run: python -m bench reproduce ci   (checks the findings after the comparison)
"""

import math

from bench.base.errors import BenchError
from bench.groups import ALPHA, Group, p_value

KEYS = {"row", "cell", "above", "below", "significant"}


def check_spec(findings, where: str) -> list[dict]:
    """The suite's findings, validated: each a mapping with row, cell and exactly one of above / below."""
    if not isinstance(findings, list):
        raise BenchError(f"{where}: 'findings' must be a list of {{row, cell, above|below}} mappings")
    for f in findings:
        ok = (
            isinstance(f, dict)
            and {"row", "cell"} <= set(f) <= KEYS
            and len(set(f) & {"above", "below"}) == 1
            and isinstance(f.get("significant", False), bool)
        )
        if not ok:
            raise BenchError(
                f"{where}: bad finding {f!r}; each needs row, cell and one of above / below "
                "(and optionally significant: true)"
            )
    return findings


def _runs(groups: list[Group]) -> dict[tuple[str, str], list[float] | float]:
    """(row, "model clip") -> the primary metric of each run (cells with runs); baselines as
    (row, "baseline NAME") -> their one number."""
    runs: dict[tuple[str, str], list[float] | float] = {(g.row, g.col): g.finite(g.primary) for g in groups}
    runs = {k: v for k, v in runs.items() if v}
    for g in groups:
        runs |= {(g.row, f"baseline {name}"): v for name, v in g.baselines.items()}
    return runs


def _mean(x: list[float] | float) -> float:
    return x if isinstance(x, float) else math.fsum(x) / len(x)


def check(findings: list[dict], groups: list[Group]) -> list[tuple[str, bool]]:
    """(the finding in words with the numbers, whether it holds) for each finding, on the table's groups. A cell
    or baseline missing from the table makes its finding fail."""
    runs, out = _runs(groups), []
    for f in findings:
        row, cells = f["row"], [f["cell"]]
        if f["cell"] == "*":
            cells = sorted(c for r, c in runs if r == row and not c.startswith("baseline "))
        op = "above" if "above" in f else "below"
        target = f[op]
        ref = float(target) if isinstance(target, int | float) else runs.get((row, str(target)), math.nan)
        for cell in cells or [f["cell"]]:
            value = runs.get((row, cell), math.nan)
            mean, ref_mean = _mean(value), _mean(ref)
            holds = mean > ref_mean if op == "above" else mean < ref_mean
            named = "" if isinstance(target, int | float) else f"{target} "  # a number is not named twice
            text = f"{row}: {cell} {mean:.4g} {op} {named}{ref_mean:.4g}"
            if f.get("significant"):
                p = p_value(value, ref) if isinstance(value, list) and not math.isnan(ref_mean) else math.nan
                holds = holds and p < ALPHA
                text += f", significant over seeds (p = {p:.2g}, needs < {ALPHA})"
            out.append((text, bool(holds)))
    return out
