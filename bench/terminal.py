"""The results table in a terminal, never cut: each table as the pivot (rows x model-clip columns) where it fits
the terminal's width, else in the long layout, one line per cell under its row (model-clip, mean ± std, n,
mark), which fits 80 columns. `--layout wide|long` forces one; a forced pivot wider than the terminal is
printed whole and left to the terminal to wrap, never squeezed into ellipses.

run: python -m bench table ci --layout long
"""

import textwrap

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bench.table import Grid, Shown

LAYOUTS = ("auto", "wide", "long")


def pivot_width(rows: list[list]) -> int:
    """Characters the pivot needs on one line per row: each column as wide as its widest cell, in rich's box
    ("│ " before each cell, " " after it, "│" at the end)."""
    return sum(max(len(str(r[i])) for r in rows) + 3 for i in range(len(rows[0]))) + 1


def wide(title: str, rows: list[list], width: int) -> Table:
    t = Table(title=title, title_justify="left", width=max(width, pivot_width(rows)))
    for head in rows[0]:
        t.add_column(head, no_wrap=True)
    for r in rows[1:]:
        t.add_row(*[f"[bold green]{c}[/]" if getattr(c, "mark", "") == "best" else str(c) for c in r])
    return t


def long_lines(rows: list[list]) -> list[tuple[str, bool]]:
    """(line, is the row's best) for each row label, its baselines, and one line per cell that has runs."""
    head, lines = rows[0], []
    ncols = sum(isinstance(c, Shown) for c in rows[1]) if len(rows) > 1 else 0
    for r in rows[1:]:
        if not ncols:  # a table of text (the published figures): one line per column under the label
            lines += [(r[0], False), *((f"  {h}: {c}", False) for h, c in zip(head[1:], r[1:], strict=True))]
            continue
        label, cells, extra = r[0], r[1 : 1 + ncols], r[1 + ncols :]
        lines.append((label + (f"   ({head[-1]}: {extra[0]})" if extra and extra[0] != "–" else ""), False))
        shown = [(h, c) for h, c in zip(head[1 : 1 + ncols], cells, strict=True) if c.text != "–" or c.note]
        if not shown:
            lines.append(("  (no runs)", False))
            continue
        w_col = max(len(h) for h, _ in shown)
        w_val = max(len(c.text) for _, c in shown)
        for h, c in shown:
            mark = {"best": "best", "tied": "≈ tied"}.get(c.mark, "")
            parts = [f"{h:<{w_col}}", f"{c.text:>{w_val}}", f"n={c.n}" if c.n else "", mark]
            parts.append(f"[{c.note}]" if c.note else "")
            lines.append(("  " + "  ".join(p for p in parts if p), c.mark == "best"))
    return lines


def print_grids(grids: list[Grid], layout: str = "auto", width: int | None = None) -> None:
    """Every table in the layout asked for, or (auto) the pivot where it fits `width` (the terminal's)."""
    console = Console(width=width) if width else Console()
    width = console.width
    for title, rows in grids:
        if layout == "wide" or (layout == "auto" and pivot_width(rows) <= width):
            Console(width=max(width, pivot_width(rows))).print(wide(title, rows, width))
            continue
        console.print(Text("\n".join(textwrap.wrap(title, width)), style="bold"), soft_wrap=True)
        for line, best in long_lines(rows):
            console.print(Text(line, style="bold green" if best else ""), soft_wrap=True)
        console.print()
