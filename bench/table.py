"""The results table: each suite cell aggregated over seeds (mean ± std, n), the best cell per row marked.

Rows are task/dataset (plus extra grid axes), columns model x clip. The best mean of a row is bold only when
Welch's t-test (two-sided, p < 0.05) finds it different from every other cell of the row; cells it cannot
be told apart from (including any with fewer than two runs, which cannot be tested) are marked ≈ as tied,
and so is the best cell when it has ties. Secondary tables: wall time, steps per second, parameters,
diverged runs, and gradient statistics when the records carry them.

run: python -m bench table ci --format md
"""

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass

from bench import models, tasks
from bench.base.errors import BenchError
from bench.groups import ALPHA, Group, p_value
from bench.numbers import Style, style_of
from bench.records import Status, read_record, record_paths
from bench.suites import Suite

# Per-run numbers aggregated besides the test metrics; (record key, label).
GRAD_TABLES = (
    "grad/reach",
    "grad/reach_median",
    "grad/clip_rate",
    "grad/norm_max",
    "grad/spikes",
)  # the gradient evidence shown as tables
RUN_STATS = [("wall_time_s", "wall time (s)"), ("steps_per_s", "steps per second"), ("params", "parameters")]


def collect(suite: Suite) -> list[Group]:
    """Read every cell's record (unreadable ones are skipped with a warning) and group seeds together."""
    groups: dict[tuple[str, str], Group] = {}
    found = [(cell, record) for cell in suite.cells if (record := read_record(record_paths(cell.cfg)[0]))]
    recorded = {(c.row, c.col): r for c, r in reversed(found) if r.primary_metric}
    for cell in suite.cells:  # the metric and its direction as the runs recorded them, else the task's
        kind = recorded.get((cell.row, cell.col)) or tasks.get(cell.cfg.task)
        groups.setdefault(
            (cell.row, cell.col), Group(cell.row, cell.col, kind.primary_metric, kind.higher_is_better)
        )
    for cell, record in found:
        g = groups[(cell.row, cell.col)]
        if record.finished and record.problem(cell.cfg):  # an edited or damaged record: counted, not averaged
            g.status["invalid"] = g.status.get("invalid", 0) + 1
            continue
        g.status[record.status] = g.status.get(record.status, 0) + 1
        g.curves.append(record.history)
        g.capped += record.reason.startswith("stopped by the time cap")
        if record.clip not in ("", "none") and "grad/clip_rate" in record.grad_summary:
            g.clip_fired.append(record.grad_summary["grad/clip_rate"] > 0)
        for name, scores in record.baselines.items():  # the same data gives the same baseline
            if isinstance(scores, dict) and isinstance(scores.get(f"test/{g.primary}"), int | float):
                g.baselines[name] = float(scores[f"test/{g.primary}"])
        if record.grad_profile:
            g.profiles.append(record.grad_profile)
        numbers = {k: getattr(record, k) for k, _ in RUN_STATS} | record.grad_summary
        if (
            choice := suite.choices.get((cell.row, cell.col))
        ) is not None:  # reproduce compares the choice too
            numbers |= {f"tuned/{k}": v for k, v in choice.setting.items()}
        if record.status == Status.OK:
            numbers |= {
                k.removeprefix("test/"): v for k, v in record.metrics.items() if k.startswith("test/")
            }
        for k, v in numbers.items():
            if isinstance(v, int | float):
                g.values.setdefault(k, []).append(float(v))
    if not found:
        raise BenchError(
            f"suite '{suite.name}' has no runs in {suite.cells[0].cfg.out}; "
            f"run `python -m bench sweep {suite.name}` first"
        )
    for row in suite.rows():
        mark_best(g for g in groups.values() if g.row == row)
    return list(groups.values())


LEGEND = (
    "bold: the row's best, different from every other cell (Welch's t-test, p < 0.05); "
    "≈: tied with the best (not significantly different, or fewer than 2 runs)"
)


def mark_best(row: "Iterable[Group]") -> None:
    """Bold the best mean of a row when it differs significantly from every other cell; mark its ties."""
    scored = [g for g in row if g.stat(g.primary)[2]]
    if not scored:
        return
    pick = max if scored[0].higher_is_better else min
    top = pick(scored, key=lambda g: g.stat(g.primary)[0])
    ties = [g for g in scored if g is not top and not differs(top, g)]
    for g in ties:
        g.tied = True
    top.best, top.tied = not ties, bool(ties)


def differs(a: Group, b: Group) -> bool:
    """Welch's t-test on the primary metric at ALPHA; fewer than two runs on a side cannot differ."""
    return p_value(a.finite(a.primary), b.finite(b.primary)) < ALPHA


@dataclass
class Shown:
    """A table cell: its statistic's text, the runs behind it (None: not a statistic), its mark ("best",
    "tied" or none) and the runs it leaves out ("2 diverged", "1 undefined")."""

    text: str
    n: int | None = None
    mark: str = ""
    note: str = ""

    def __str__(self) -> str:  # the pivot's cell, as the terminal, markdown and HTML write it
        text = self.text + (f" (n={self.n})" if self.n else "")
        text = f"**{text}**" if self.mark == "best" else f"≈ {text}" if self.mark == "tied" else text
        return text + (f" [{self.note}]" if self.note else "")


def show(g: Group, key: str, style: Style) -> Shown:
    """The statistic of `key` over g's runs in the row's style; runs whose value is NaN (a saturated run's
    reach) are counted beside it, not averaged."""
    undefined = sum(1 for x in g.values.get(key, []) if x is not None and math.isnan(x))
    mean, std, n = g.stat(key)
    if not n and undefined:
        return Shown("undefined", undefined)
    return Shown(style.stat(mean, std, n), n or None, note=f"{undefined} undefined" if undefined else "")


Grid = tuple[str, list[list]]  # (title, rows): row 0 the header, then [row label, Shown..., extra text]


def grids(suite: Suite, groups: list[Group]) -> list[Grid]:
    """(title, rows) for the main table and each secondary table; row 0 is the header. Every statistic of a
    row is written in one style (bench.numbers)."""
    by = {(g.row, g.col): g for g in groups}
    cols = suite.cols()
    reference = {c.col for c in suite.cells if models.spec(c.cfg.model).reference}
    heads = [f"{c} (reference)" if c in reference else c for c in cols]

    def table(title, cell, key=None, integer=False, extra=None) -> Grid:
        """cell(g, style) -> Shown; key(g): the metric whose values set the row's style."""
        rows = [["task / dataset", *heads, *([extra[0]] if extra else [])]]
        for row in suite.rows():
            present = [by[(row, c)] for c in cols if (row, c) in by]
            style = style_of([g.stat(key(g)) for g in present], integer) if key else Style()
            cells = [cell(by[(row, c)], style) if (row, c) in by else Shown("–") for c in cols]
            rows.append([row, *cells, *([extra[1](row)] if extra else [])])
        return title, rows

    def primary(g: Group, style: Style) -> Shown:
        shown = show(g, g.primary, style)
        shown.mark = "best" if g.best else "tied" if g.tied else ""
        bad = [f"{n} {s}" for s, n in g.status.items() if s != "ok"]
        bad += [f"{g.capped} stopped by the time cap"] if g.capped else []
        # the same runs as clip none, seed for seed: no evidence that the setting helps or hurts
        bad += ["clip never fired"] if g.clip_fired and not any(g.clip_fired) else []
        shown.note = ", ".join(x for x in (shown.note, *bad) if x)
        return shown

    first = groups[0]
    metric_title = f"test {first.primary} ({'higher' if first.higher_is_better else 'lower'} is better)"
    if len({(g.primary, g.higher_is_better) for g in groups}) > 1:
        kinds = {f"{g.row.split('/')[0]}: {g.primary} {'↑' if g.higher_is_better else '↓'}" for g in groups}
        metric_title = f"test primary metric per task ({', '.join(sorted(kinds))})"
    notes = [LEGEND]
    if reference:
        notes.append("(reference): not a recurrent network, shown for scale")
    if suite.choices:
        notes.append("every cell at the setting its trials chose on validation (table below)")
    out = [
        table(
            "; ".join([metric_title, *notes]),
            primary,
            lambda g: g.primary,
            extra=("baselines", lambda row: baseline_text(groups, row)),
        )
    ]
    if suite.published:
        out.append(published(suite, groups))
    if suite.choices:
        n = {len(c.scores) for c in suite.choices.values()}
        title = f"setting chosen on validation ({'/'.join(map(str, sorted(n)))} trials per cell, tuning seeds only)"
        choice = suite.choices.get
        out.append(table(title, lambda g, _: Shown(c.text() if (c := choice((g.row, g.col))) else "–")))
    for key, label in RUN_STATS:
        out.append(
            table(label, lambda g, st, key=key: show(g, key, st), lambda g, key=key: key, key == "params")
        )
    out.append(
        table(
            "diverged / failed runs",
            lambda g, _: Shown(f"{g.status.get('diverged', 0)} / {g.status.get('failed', 0)}"),
        )
    )
    for key in [k for k in GRAD_TABLES if any(k in g.values for g in groups)]:
        out.append(table(key, lambda g, st, key=key: show(g, key, st), lambda g, key=key: key))
    return out


def published(suite: Suite, groups: list[Group]) -> Grid:
    """The suite's figures from papers beside its cells of the same model, in the same metric; a figure whose
    protocol differs is named with the reason and without its number."""
    rows = [["task / dataset", "model", "published", "ours (mean ± std over seeds)", "source", "protocol"]]
    for e in suite.published:
        mine = [g for g in groups if g.row == e["row"] and g.col.split(" ", 1)[0] == e["model"]]
        style = style_of([g.stat(g.primary) for g in mine])
        ours = "; ".join(f"{g.col.split(' ', 1)[1]}: {show(g, g.primary, style)}" for g in mine) or "–"
        if e.get("differs"):
            figure, protocol = "not comparable", f"{e['protocol']}; differs: {e['differs']}"
        else:
            figure, protocol = f"{e['value']:g}", e["protocol"]  # at the paper's own precision
        rows.append([e["row"], e["model"], figure, ours, e["source"], protocol])
    return "published figures beside ours (same metric; shown only where the protocol matches)", rows


def row_baselines(groups: list[Group], row: str) -> dict[str, float]:
    return {k: v for g in groups if g.row == row for k, v in g.baselines.items()}


def baseline_text(groups: list[Group], row: str) -> str:
    return "; ".join(f"{name} {v:.4g}" for name, v in sorted(row_baselines(groups, row).items())) or "–"


def to_markdown(suite: Suite, groups: list[Group]) -> str:
    parts = [f"# {suite.name}" + (f": {suite.description}" if suite.description else "")]
    for title, rows in grids(suite, groups):
        parts.append(f"\n## {title}\n")
        parts.append("| " + " | ".join(rows[0]) + " |")
        parts.append("|" + " --- |" * len(rows[0]))
        parts += ["| " + " | ".join(map(str, r)) + " |" for r in rows[1:]]
    return "\n".join(parts) + "\n"


CSV_FIELDS = ["row", "model", "clip", "metric", "mean", "std", "n", "best", "diverged", "failed", "tied"]


def long_rows(groups: list[Group], primary_only: bool = False) -> list[list]:
    """One row per (cell, metric) in CSV_FIELDS order: the CSV reference and the W&B leaderboard both use it."""
    rows = []
    for g in groups:
        model, clip = g.col.split(" ", 1)
        for metric in [g.primary] if primary_only else sorted(g.values):
            mean, std, n = g.stat(metric)
            rows.append(
                [
                    g.row,
                    model,
                    clip,
                    metric,
                    mean,
                    std,
                    n,
                    g.best and metric == g.primary,
                    g.status.get("diverged", 0),
                    g.status.get("failed", 0),
                    g.tied and metric == g.primary,
                ]
            )
    return rows


def to_csv(suite: Suite, groups: list[Group]) -> str:
    """Long form, one line per (cell, metric): the format of the committed reference tables."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for row, model, clip, metric, mean, std, n, best, diverged, failed, tied in long_rows(groups):
        w.writerow(
            [row, model, clip, metric, f"{mean:.6g}", f"{std:.6g}", n, int(best), diverged, failed, int(tied)]
        )
    # a baseline is a model too: one line per row and baseline, model "baseline", clip its name
    primary = {g.row: g.primary for g in groups}
    for row in primary:
        for name, v in sorted(row_baselines(groups, row).items()):
            w.writerow([row, "baseline", name, primary[row], f"{v:.6g}", "0", 1, 0, 0, 0, 0])
    return buf.getvalue()
