"""Tuning as part of a suite: every cell of a row gets the same search, chosen on validation at its own seeds.

A suite's `tune: {space: {lr: [0.001, 0.003]}, seeds: [100]}` (a task entry may give its own `tune`) makes one
trial run per point of the space's grid and tuning seed, for each (row, column). The point with the best mean
validation score over the tuning seeds is the cell's setting; the reported seeds then run at it. Tuning seeds
must differ from the reported ones, so no reported number is the one its setting was picked on. A diverged
trial scores worst; the choice waits while any trial has no final record (not run yet, interrupted, failed).

run: python -m bench sweep modern  (the trials first, then the reported seeds at each cell's chosen setting)
"""

import itertools
import math
from dataclasses import dataclass

from bench.base.errors import BenchError
from bench.records import Status, read_record, record_paths

TUNE_KEYS = ("space", "seeds")


@dataclass(frozen=True)
class Choice:
    setting: dict  # the chosen point of the space, e.g. {"lr": 0.003}
    scores: tuple[tuple[str, float], ...]  # each point as text and its mean validation score, in grid order
    metric: str  # the validation metric it was chosen on, e.g. "val/loss"

    def text(self) -> str:
        picked = point_text(self.setting)
        return f"{picked} (best {self.metric} of {len(self.scores)} trials: {self.scores_text()})"

    def scores_text(self) -> str:
        return ", ".join(f"{p} {s:.4g}" for p, s in self.scores)


def point_text(point: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in point.items())


def check_tune(tune, seeds: list, where: str) -> dict:
    """The tune mapping as {space: {key: [values]}, seeds: [...]}, or {} for none; bad ones fail naming why."""
    if not tune:
        return {}
    if not isinstance(tune, dict) or set(tune) - set(TUNE_KEYS):
        raise BenchError(f"{where}: 'tune' must map {' and '.join(TUNE_KEYS)}, got {tune!r}")
    space, tune_seeds = tune.get("space"), tune.get("seeds")
    if not isinstance(space, dict) or not space or not all(isinstance(v, list) and v for v in space.values()):
        raise BenchError(
            f"{where}: tune 'space' must map each key to a non-empty list, e.g. lr: [0.001, 0.003]"
        )
    if not isinstance(tune_seeds, list) or not tune_seeds:
        raise BenchError(f"{where}: tune needs 'seeds', a list of seeds used for tuning only, e.g. [100]")
    shared = sorted(set(tune_seeds) & set(seeds))
    if shared:
        raise BenchError(
            f"{where}: tuning seeds {shared} are also reported seeds; choose on seeds the table does not report"
        )
    for key in ("seed", "model", "clip", "task"):
        if key in space:
            raise BenchError(f"{where}: tune space cannot search '{key}' (a suite axis, not a setting)")
    return {"space": space, "seeds": tune_seeds}


def points(tune: dict) -> list[dict]:
    space = tune["space"]
    return [dict(zip(space, values, strict=True)) for values in itertools.product(*space.values())]


def choose(trials: list[tuple[dict, list]], higher_is_better: bool, metric: str) -> Choice | None:
    """The best point of [(point, its trial cells)] by mean validation `metric`, or None while a trial has no
    final record."""
    scores = []
    for point, cells in trials:
        values = []
        for cell in cells:
            record = read_record(record_paths(cell.cfg)[0])
            if record is None or record.status not in (Status.OK, Status.DIVERGED):
                return None
            value = record.metrics.get(metric) if record.status == Status.OK else None
            ok = isinstance(value, int | float) and math.isfinite(value)
            values.append(value if ok else (-math.inf if higher_is_better else math.inf))
        scores.append((point, sum(values) / len(values)))
    pick = max if higher_is_better else min
    best = pick(scores, key=lambda s: s[1])  # the first in grid order on a tie
    return Choice(best[0], tuple((point_text(p), s) for p, s in scores), metric)
