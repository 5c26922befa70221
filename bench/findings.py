"""A suite's findings: each sentence the README says about a suite's results, checked on its table, so that a
change that breaks learning cannot land by regenerating the reference, and no sentence claims more than the
runs show.

In a suite file:

    findings:
      - {row: speech/fsdd, cell: lstm none, above: rnn none}       # mean primary metric, cell vs cell
      - {row: lm/tiny-shakespeare, cell: "*", below: baseline unigram}  # every cell vs a recorded baseline
      - {row: probes/adding, cell: lstm norm:1.0, below: 0.05}      # vs a number
      - {row: speech/fsdd, cell: lstm none, above: rnn none, significant: true}   # and p < 0.05 over seeds
      - {row: speech/fsdd, cell: lstm none, tied: gru none}        # no significant difference (p >= 0.05)
      - {row: probes/adding, cell: rnn none, metric: grad/reach, below: -5}      # another recorded metric

`above` / `below` compare means over the seeds, as the table shows them, of the row's primary metric or of
`metric`. `significant: true` also asks that the difference be significant at p < 0.05 (Welch's t-test against
another cell; a one-sample t-test against a number or a baseline): a sentence that claims a difference is such
a finding. `tied` claims the opposite: the two cells do not differ significantly.

run: python -m bench reproduce ci   (checks the findings after the comparison)
"""

import math
import statistics

from bench.base.errors import BenchError
from bench.groups import ALPHA, Group, p_value

OPS = ("above", "below", "tied")
KEYS = {"row", "cell", "significant", "metric", *OPS}


def check_spec(findings, where: str) -> list[dict]:
    """The suite's findings, validated: each a mapping with row, cell and exactly one of above / below / tied."""
    if not isinstance(findings, list):
        raise BenchError(f"{where}: 'findings' must be a list of {{row, cell, above|below|tied}} mappings")
    for f in findings:
        ok = (
            isinstance(f, dict)
            and {"row", "cell"} <= set(f) <= KEYS
            and len(set(f) & set(OPS)) == 1
            and isinstance(f.get("significant", False), bool)
            and isinstance(f.get("metric", ""), str)
        )
        if not ok:
            raise BenchError(
                f"{where}: bad finding {f!r}; each needs row, cell and one of above / below / tied "
                "(and optionally significant: true, metric: NAME)"
            )
    return findings


def _runs(groups: list[Group], metric: str) -> dict[tuple[str, str], list[float] | float]:
    """(row, "model clip") -> `metric` (or, if empty, the row's primary metric) of each run that measured it;
    baselines, of the primary metric, as (row, "baseline NAME") -> their one number. Infinite values stay: a
    reach of -inf is a gradient that underflowed."""
    runs: dict[tuple[str, str], list[float] | float] = {}
    for g in groups:
        values = [v for v in g.values.get(metric or g.primary, []) if not math.isnan(v)]
        runs |= {(g.row, g.col): values} if values else {}
        runs |= {(g.row, f"baseline {name}"): v for name, v in g.baselines.items()} if not metric else {}
    return runs


def _mean(x: list[float] | float) -> float:
    return x if isinstance(x, float) else statistics.fmean(x)


def check(findings: list[dict], groups: list[Group]) -> list[tuple[str, bool]]:
    """(the finding in words with the numbers, whether it holds) for each finding, on the table's groups. A cell
    or baseline missing from the table makes its finding fail."""
    out = []
    for f in findings:
        metric = f.get("metric", "")
        runs = _runs(groups, metric)
        row, cells = f["row"], [f["cell"]]
        if f["cell"] == "*":
            cells = sorted(c for r, c in runs if r == row and not c.startswith("baseline "))
        op = next(o for o in OPS if o in f)
        target = f[op]
        ref = float(target) if isinstance(target, int | float) else runs.get((row, str(target)), math.nan)
        for cell in cells or [f["cell"]]:
            value = runs.get((row, cell), math.nan)
            mean, ref_mean = _mean(value), _mean(ref)
            tested = (
                (op == "tied" or f.get("significant"))
                and isinstance(value, list)
                and not math.isnan(ref_mean)
            )
            p = p_value(value, ref) if tested else math.nan
            named = "" if isinstance(target, int | float) else f"{target} "  # a number is not named twice
            what = f" {metric}" if metric else ""
            text = (
                f"{row}: {cell}{what} {mean:.4g} {op}{' with' if op == 'tied' else ''} {named}{ref_mean:.4g}"
            )
            if op == "tied":
                holds = p >= ALPHA
                text += f" (p = {p:.2g}, needs >= {ALPHA})"
            else:
                holds = mean > ref_mean if op == "above" else mean < ref_mean
            if f.get("significant") and op != "tied":
                holds = holds and p < ALPHA
                text += f", significant over seeds (p = {p:.2g}, needs < {ALPHA})"
            out.append((text, bool(holds)))
    return out
