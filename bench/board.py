"""The leaderboard in W&B: the aggregated suite table as a wandb.Table with a bar chart and the HTML report's
figures (one per task, the gradient reach against the metric) as images, offline by default.

run: python -m bench board ci
"""

from pathlib import Path

from bench.suites import Suite
from bench.table import Group, long_rows
from bench.tracking import wandb_mode

COLUMNS = [
    "row",
    "model",
    "clip",
    "metric",
    "mean",
    "std",
    "n",
    "best",
    "diverged",
    "failed",
    "tied",
    "label",
]


def table_rows(groups: list[Group], primary_only: bool) -> list[list]:
    """The table's long rows that have values, each with a label for the bar chart."""
    return [[*r, f"{r[0]} | {r[1]} {r[2]}"] for r in long_rows(groups, primary_only) if r[6]]


def figures(suite: Suite, groups: list[Group], image) -> dict:
    """The HTML report's figures (one per task, the reach against the metric) as `image(fig, caption=...)`."""
    import matplotlib.pyplot as plt

    from bench.report import reach_figure, task_figure

    made = {
        f"figures/{t}": task_figure(suite, groups, t)
        for t in dict.fromkeys(r.split("/")[0] for r in suite.rows())
    }
    if (reach := reach_figure(suite, groups)) is not None:
        made["figures/reach"] = reach
    out = {}
    for key, (fig, caption) in made.items():
        out[key] = image(fig, caption=caption)
        plt.close(fig)
    return out


def board(suite: Suite, groups: list[Group], out: str) -> str:
    """Log the leaderboard run; returns its local folder (to `wandb sync` when offline)."""
    import wandb

    Path(out).mkdir(parents=True, exist_ok=True)
    run = wandb.init(
        project=f"seqbench-{suite.name}",
        name=f"{suite.name}-leaderboard",
        job_type="leaderboard",
        dir=out,
        mode=wandb_mode(),
        config={"suite": suite.name, "description": suite.description},
    )
    leaderboard = wandb.Table(columns=COLUMNS, data=table_rows(groups, primary_only=True))
    run.log(
        {
            "leaderboard": leaderboard,
            "all_metrics": wandb.Table(columns=COLUMNS, data=table_rows(groups, primary_only=False)),
            "leaderboard_chart": wandb.plot.bar(
                leaderboard, "label", "mean", title=f"{suite.name}: test primary metric (mean over seeds)"
            ),
            **figures(suite, groups, wandb.Image),
        }
    )
    folder = str(Path(run.dir).parent)
    wandb.finish()
    return folder
