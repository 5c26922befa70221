"""Weights & Biases: one W&B run per bench run, offline unless the user is logged in; never needs an account.

The W&B runs table, grouped by task, model and clip (all in each run's config and summary), is the
leaderboard; `bench board SUITE` adds the aggregated table with a chart.

run: python -m bench run --task speech --dataset dtmf --wandb
"""

import netrc
import os
from pathlib import Path


def wandb_mode() -> str:
    """WANDB_MODE if set; otherwise online only when an API key is configured."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    try:
        return "online" if netrc.netrc().authenticators("api.wandb.ai") else "offline"
    except (OSError, netrc.NetrcParseError):
        return "offline"


def run_logger(cfg, name: str):
    """A Lightning WandbLogger whose config is the resolved run config (task options flattened in)."""
    from dataclasses import asdict

    from pytorch_lightning.loggers import WandbLogger

    config = asdict(cfg)
    config |= config.pop("options")  # task options as flat keys, like the command line
    return WandbLogger(
        project=cfg.wandb_project,
        name=name,
        group=f"{cfg.task}-{cfg.dataset}",
        save_dir=cfg.out,
        config=config,
        tags=[cfg.task, cfg.dataset, cfg.model, cfg.clip],
        mode=wandb_mode(),
        job_type="run",
    )


def finish(logger, record) -> str:
    """Put the record's results into the W&B summary, close the run, return its local folder."""
    import wandb

    run = logger.experiment
    summary = {
        k: getattr(record, k) for k in ("best_epoch", "epochs", "wall_time_s", "steps_per_s", "params")
    }
    run.summary.update({"status": str(record.status), **summary, **record.metrics})
    folder = str(Path(run.dir).parent)
    wandb.finish()
    return folder


def sync_hint(folder: str) -> str:
    return f"wandb: files in {folder}" + (
        f"; upload with: wandb sync {folder}" if wandb_mode() == "offline" else ""
    )
