"""A self-contained HTML report of a suite: the tables, bars with error bars, learning curves, and the
temporal gradient profiles when the runs recorded them. Plots are embedded PNGs, readable offline.

run: python -m bench table ci --format html
"""

import base64
import html
import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench.suites import Suite  # noqa: E402
from bench.table import Group, grids, row_baselines  # noqa: E402


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def bars(suite: Suite, groups: list[Group], row: str) -> str:
    """The row's primary metric per model x clip, mean with a std error bar."""
    gs = [g for g in groups if g.row == row]
    stats = [g.stat(g.primary) for g in gs]
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(gs), 3.2))
    ax.bar(
        range(len(gs)),
        [m if n else 0 for m, _, n in stats],
        yerr=[s if n else 0 for _, s, n in stats],
        capsize=4,
        color=["tab:green" if g.best else "tab:olive" if g.tied else "tab:blue" for g in gs],
    )
    ax.set_xticks(range(len(gs)), [g.col.replace(" ", "\n") for g in gs], fontsize=8)
    baselines = sorted(row_baselines(groups, row).items())
    for i, (name, value) in enumerate(baselines):
        ax.axhline(value, color="0.3", ls=("--", ":", "-.")[i % 3], lw=1, label=f"{name} {value:.4g}")
    if baselines:
        ax.legend(fontsize=7, loc="best")
    ax.set_ylabel(f"test {gs[0].primary}")
    ax.set_title(row, fontsize=9)
    return _png(fig)


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
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>seqbench {html.escape(suite.name)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}b{color:#060}</style>",
        f"<h1>seqbench suite {html.escape(suite.name)}</h1><p>{html.escape(suite.description)}</p>",
    ]
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
    parts.append("<h2>Plots</h2>")
    for row in suite.rows():
        parts.append(
            f"<h3>{html.escape(row)}</h3>"
            + bars(suite, groups, row)
            + curves(groups, row)
            + profiles(groups, row)
        )
    return "\n".join(parts)
