"""The leaderboard in W&B: the aggregated suite table as a wandb.Table with a bar chart, offline by default.

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
        }
    )
    folder = str(Path(run.dir).parent)
    wandb.finish()
    return folder
