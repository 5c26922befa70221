"""A self-contained HTML report of a suite that opens with its story: a figure per task (the primary metric
per model and clip with error bars, the baselines as lines), the gradient reach against the metric, then the
tables, learning curves and temporal gradient profiles. Plots are embedded PNGs, readable offline; `bench
board` logs the same figures to W&B.

run: python -m bench table ci --format html
"""

import base64
import html
import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench.numbers import DECADES  # noqa: E402
from bench.suites import Suite  # noqa: E402
from bench.table import Group, grids, row_baselines  # noqa: E402


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def seeds_text(gs: list[Group]) -> str:
    ns = sorted({g.stat(g.primary)[2] for g in gs} - {0})
    return "no runs" if not ns else f"{ns[0]} seeds" if len(ns) == 1 else f"{ns[0]}-{ns[-1]} seeds per cell"


def log_axis(values: list[float]) -> bool:
    """A log axis where every (non-NaN) value is positive and finite and they span more than two decades (0.17
    beside 5e-05): the rule by which a table row is written in scientific notation (bench.numbers)."""
    pos = [v for v in values if v > 0 and math.isfinite(v)]
    return (
        len(pos) > 1 and max(pos) / min(pos) > 10**DECADES and len(pos) == len([v for v in values if v == v])
    )


def task_figure(suite: Suite, groups: list[Group], task: str) -> tuple[plt.Figure, str]:
    """(figure, caption): a panel per row of the task, the test primary metric per model x clip as the mean
    with a std error bar, the row's baselines as lines, on a log axis where the values span decades."""
    rows = [r for r in suite.rows() if r.split("/")[0] == task]
    width = sum(0.5 * len([g for g in groups if g.row == r]) + 1.4 for r in rows)
    fig, axes = plt.subplots(1, len(rows), figsize=(min(max(width, 4.5), 16), 3.4), squeeze=False)
    logged = []
    for ax, row in zip(axes[0], rows, strict=True):
        gs = [g for g in groups if g.row == row]
        stats = [g.stat(g.primary) for g in gs]
        shown = [(i, m, s) for i, (m, s, n) in enumerate(stats) if n and math.isfinite(m)]
        baselines = sorted(row_baselines(groups, row).items())
        for i, m, s in shown:
            g = gs[i]
            color = "tab:green" if g.best else "tab:olive" if g.tied else "tab:blue"
            ax.errorbar(i, m, yerr=s if s == s else 0, fmt="o", capsize=4, color=color)
        for k, (name, value) in enumerate(baselines):
            ax.axhline(value, color="0.3", ls=("--", ":", "-.")[k % 3], lw=1, label=f"{name} {value:.3g}")
        if log_axis([m for _, m, _ in shown] + [v for _, v in baselines]):
            ax.set_yscale("log")
            logged.append(row)
        if baselines:
            ax.legend(fontsize=7, loc="best")
        if len(gs) > 8:  # many columns: one slanted line each, else two upright lines
            ax.set_xticks(range(len(gs)), [g.col for g in gs], fontsize=7, rotation=40, ha="right")
        else:
            ax.set_xticks(range(len(gs)), [g.col.replace(" ", "\n") for g in gs], fontsize=7)
        ax.set_xlim(-0.6, len(gs) - 0.4)
        direction = "higher" if gs[0].higher_is_better else "lower"
        ax.set_ylabel(f"test {gs[0].primary} ({direction} is better)", fontsize=8)
        ax.set_title(row, fontsize=9)
    fig.tight_layout()
    gs = [g for g in groups if g.row in rows]
    caption = (
        f"{task}: the test {gs[0].primary} of every model and clip, mean ± std over {seeds_text(gs)}; green: the "
        "row's best, significantly; olive: tied with it; lines: baselines"
        + (f"; log axis for {', '.join(logged)} (values span more than two decades)" if logged else "")
    )
    return fig, caption


def reach_figure(suite: Suite, groups: list[Group]) -> tuple[plt.Figure, str] | None:
    """(figure, caption) of the gradient reach against the test primary metric, a panel per task, a point per
    cell (means over its seeds); None when no run recorded a reach."""
    tasks = [t for t in dict.fromkeys(r.split("/")[0] for r in suite.rows())]
    points = {
        t: [
            (g, g.stat("grad/reach")[0], g.stat(g.primary)[0])
            for g in groups
            if g.row.split("/")[0] == t and g.stat("grad/reach")[2] and g.stat(g.primary)[2]
        ]
        for t in tasks
    }
    points = {t: [p for p in ps if all(map(math.isfinite, p[1:]))] for t, ps in points.items()}
    points = {t: ps for t, ps in points.items() if ps}
    if not points:
        return None
    fig, axes = plt.subplots(1, len(points), figsize=(min(3.6 * len(points), 16), 3.4), squeeze=False)
    models = sorted({g.col.split(" ")[0] for ps in points.values() for g, _, _ in ps})
    colors = {m: f"C{k % 10}" for k, m in enumerate(models)}
    for ax, (task, ps) in zip(axes[0], points.items(), strict=True):
        for g, reach, metric in ps:
            ax.scatter(reach, metric, color=colors[g.col.split(" ")[0]], s=22)
        if log_axis([m for _, _, m in ps]):
            ax.set_yscale("log")
        ax.set_xlabel("gradient reach (log10 first / last step)", fontsize=8)
        ax.set_ylabel(f"test {ps[0][0].primary}", fontsize=8)
        ax.set_title(task, fontsize=9)
    handles = [plt.Line2D([], [], ls="", marker="o", color=c, label=m) for m, c in colors.items()]
    fig.legend(handles=handles, loc="outside right upper", fontsize=7)
    n = seeds_text([g for ps in points.values() for g, _, _ in ps])
    caption = (
        "How far the gradient reaches back, against what each model learned: one point per model x clip x row "
        f"(means over {n}); a reach near 0 carries the last step's loss to the first input undiminished, "
        "-5 loses five decades on the way. Cells whose reach underflowed (-inf) are left out."
    )
    return fig, caption


def figure_html(fig, caption: str) -> str:
    return f"<figure>{_png(fig)}<figcaption>{html.escape(caption)}</figcaption></figure>"


def curves(groups: list[Group], row: str) -> str:
    """Validation primary metric per epoch, first seed of each cell."""
    gs = [g for g in groups if g.row == row and g.curves and g.curves[0]]
    if not gs:
        return ""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for g in gs:
        hist = g.curves[0]
        key = f"val/{g.primary}"
        ax.plot([h["epoch"] for h in hist if key in h], [h[key] for h in hist if key in h], label=g.col)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"val {gs[0].primary}")
    ax.set_title(f"learning curves: {row}", fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


def profiles(groups: list[Group], row: str) -> str:
    """Gradient norm reaching each input step from the last step's loss: the vanishing-gradient picture."""
    gs = [g for g in groups if g.row == row and g.profiles]
    if not gs:
        return ""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for g in gs:
        prof = [p if p and p > 0 and math.isfinite(p) else float("nan") for p in g.profiles[0]]
        ax.semilogy(range(len(prof)), prof, label=g.col)
    ax.set_xlabel("input time step t")
    ax.set_ylabel("‖∂ loss_T / ∂ x_t‖")
    ax.set_title(f"temporal gradient profile: {row}", fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


def to_html(suite: Suite, groups: list[Group]) -> str:
    """The report: a figure per task, then the reach against the metric, then the tables, then per row the
    learning curves and gradient profiles."""
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>seqbench {html.escape(suite.name)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:100%}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}b{color:#060}img{max-width:100%}"
        "figure{margin:1em 0}figcaption{font-size:13px;color:#333;max-width:60em}</style>",
        f"<h1>seqbench suite {html.escape(suite.name)}</h1><p>{html.escape(suite.description)}</p>",
    ]
    for task in dict.fromkeys(r.split("/")[0] for r in suite.rows()):
        parts.append(figure_html(*task_figure(suite, groups, task)))
    if (reach := reach_figure(suite, groups)) is not None:
        parts.append(figure_html(*reach))
    for title, rows in grids(suite, groups):
        parts.append(
            f"<h2>{html.escape(title)}</h2><table><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in rows[0])
            + "</tr>"
        )
        for r in rows[1:]:
            cells = [
                f"<b>{html.escape(c.strip('*'))}</b>" if c.startswith("**") else html.escape(c)
                for c in map(str, r)
            ]
            parts.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        parts.append("</table>")
    parts.append("<h2>Learning curves and gradient profiles (first seed of each cell)</h2>")
    for row in suite.rows():
        parts.append(f"<h3>{html.escape(row)}</h3>" + curves(groups, row) + profiles(groups, row))
    return "\n".join(parts)
