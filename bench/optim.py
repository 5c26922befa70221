"""Optimizers and learning-rate schedules as registries: the training recipe is a config axis, not code.

`build(cfg, params, monitor, mode, total_steps)` returns what `LightningModule.configure_optimizers` returns.
The defaults (adam, plateau, no warm-up) are the recipe every earlier record was trained with. pytorch/examples'
word_language_model recipe is `--optimizer sgd --lr 20 --clip norm:0.25 --schedule plateau`.

run: python -m bench run --task lm --optimizer sgd --lr 20 --clip norm:0.25 --schedule plateau
"""

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from bench.base.registry import Registry

if TYPE_CHECKING:  # torch is imported where an optimizer is built, so that listing the names needs none
    import torch

# the registry type models and tasks use (bench.base.registry); plugins in seqbench.optimizers / .schedules
OPTIMIZERS = Registry("optimizer", "seqbench.optimizers")
SCHEDULES = Registry("schedule", "seqbench.schedules")


def register(table: Registry, name: str):
    def wrap(fn: Callable):
        return table.register(name, fn)

    return wrap


def names(table: Registry) -> list[str]:
    return table.names()


@register(OPTIMIZERS, "adam")
def adam(params, cfg) -> "torch.optim.Optimizer":
    import torch

    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


@register(OPTIMIZERS, "adamw")
def adamw(params, cfg) -> "torch.optim.Optimizer":
    import torch

    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


@register(OPTIMIZERS, "sgd")
def sgd(params, cfg) -> "torch.optim.Optimizer":
    import torch

    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def warmup_factor(step: int, warmup: int) -> float:
    return min(1.0, (step + 1) / warmup) if warmup else 1.0


def _per_step(scheduler) -> dict:
    return {"scheduler": scheduler, "interval": "step"}


@register(SCHEDULES, "plateau")
def plateau(opt, cfg, monitor: str, mode: str, total_steps: Callable[[], int]) -> list[dict]:
    """Halve the lr after 3 epochs without improvement of the primary validation metric."""
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    from bench.base.warmup import LinearWarmup

    sched = ReduceLROnPlateau(opt, mode=mode, factor=0.5, patience=3)
    main = {"scheduler": sched, "monitor": monitor}
    return [main, _per_step(LinearWarmup(opt, cfg.warmup_steps))] if cfg.warmup_steps else [main]


@register(SCHEDULES, "cosine")
def cosine(opt, cfg, monitor: str, mode: str, total_steps: Callable[[], int]) -> list[dict]:
    """Warm-up, then a half cosine from lr to 0 over the steps that max_epochs allows."""
    from torch.optim.lr_scheduler import LambdaLR

    span = max(1, int(total_steps()) - cfg.warmup_steps)

    def factor(step: int) -> float:
        done = min(1.0, max(0, step - cfg.warmup_steps) / span)
        return warmup_factor(step, cfg.warmup_steps) * 0.5 * (1 + math.cos(math.pi * done))

    return [_per_step(LambdaLR(opt, factor))]


@register(SCHEDULES, "none")
def constant(opt, cfg, monitor: str, mode: str, total_steps: Callable[[], int]) -> list[dict]:
    """A constant lr (after the warm-up, if any)."""
    from bench.base.warmup import LinearWarmup

    return [_per_step(LinearWarmup(opt, cfg.warmup_steps))] if cfg.warmup_steps else []


def build(cfg, params, monitor: str, mode: str, total_steps: Callable[[], int]) -> dict | tuple:
    """The optimizer and its schedulers in Lightning's configure_optimizers form.

    `total_steps()` is asked only by schedules that need the run's length (cosine)."""
    opt = OPTIMIZERS.get(cfg.optimizer)(params, cfg)  # an unknown name fails listing the valid ones
    scheds = SCHEDULES.get(cfg.schedule)(opt, cfg, monitor, mode, total_steps)
    if not scheds:
        return {"optimizer": opt}
    if len(scheds) == 1:
        return {"optimizer": opt, "lr_scheduler": scheds[0]}
    return ([opt], scheds)
