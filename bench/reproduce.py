"""Rerun a suite into a fresh folder and compare every cell with the committed reference table.

Runs are seeded, use deterministic algorithms and a fixed thread count, so on the same machine they repeat
exactly; the tolerances absorb what still differs between machines (other CPU kernels and instruction sets
change float rounding, which training amplifies as much as a change of seed would). So a reproduced mean
must lie within SPREAD_K standard errors of the difference of two means, from the reference's own seed
spread: SPREAD_K * std * sqrt(1/n_ref + 1/n_new). Where the reference cannot say (a single seed, or no
spread at all, as for parameter counts) fixed floors apply: accuracy and F1 within 0.02 absolute, every
other test metric within 5 % relative, parameter counts exact. A suite's `tolerances` fixes a metric's
tolerance instead (a number is absolute, "N%" relative, null skips). Wall time and throughput are never
compared.

run: python -m bench reproduce ci --jobs 2
"""

import csv
import io
import math
import time
from pathlib import Path

from bench.records import ROOT
from bench.suites import Suite

DEFAULT_TOLERANCES = {"acc": 0.02, "f1": 0.02, "params": 0}
SPREAD_K = 3.0
NOT_COMPARED = ("wall_time_s", "steps_per_s")


def tolerance(metric: str, overrides: dict):
    """(absolute, relative) tolerance of a metric, or None when it is not compared."""
    if metric in overrides:
        spec = overrides[metric]
    elif metric in NOT_COMPARED or metric.startswith("grad/"):
        return None
    else:
        spec = DEFAULT_TOLERANCES.get(metric, "5%")
    if spec is None:
        return None
    if isinstance(spec, str) and spec.endswith("%"):
        return 0.0, float(spec[:-1]) / 100
    return float(spec), 0.0


def read_table(text: str) -> dict[tuple, dict]:
    return {(r["row"], r["model"], r["clip"], r["metric"]): r for r in csv.DictReader(io.StringIO(text))}


def compare(reference: str, new: str, overrides: dict) -> tuple[list[list[str]], bool]:
    """Diff rows [cell, metric, reference, new, tolerance, verdict] and whether everything matched."""
    ref, got = read_table(reference), read_table(new)
    rows, ok = [], True
    for key, r in ref.items():
        tol = tolerance(key[3], overrides)
        if tol is None:
            continue
        g = got.get(key)
        cell = f"{key[0]} | {key[1]} {key[2]}"
        if g is None:
            rows.append([cell, key[3], r["mean"], "missing", "", "MISMATCH"])
            ok = False
            continue
        a, b = float(r["mean"]), float(g["mean"])
        limit = tol[0] + tol[1] * abs(a)
        spread = float(r["std"]) if int(r["n"]) > 1 and key[3] not in overrides else 0.0
        if spread > 0 and math.isfinite(spread):  # the reference's seed spread sets the bound
            limit = SPREAD_K * spread * math.sqrt(1 / int(r["n"]) + 1 / max(int(g["n"]), 1))
        same = (math.isnan(a) and math.isnan(b)) or abs(a - b) <= limit + 1e-12
        same = same and (r["n"], r["diverged"], r["failed"]) == (g["n"], g["diverged"], g["failed"])
        ok &= same
        rows.append([cell, key[3], r["mean"], g["mean"], f"±{limit:.3g}", "ok" if same else "MISMATCH"])
    return rows, ok


def reference_path(suite: Suite) -> Path:
    return ROOT / "results" / suite.name / "table.csv"


def fresh_folder(suite: Suite) -> str:
    return str(Path("sweeps") / f"{suite.name}-reproduce-{time.strftime('%Y%m%d-%H%M%S')}")
