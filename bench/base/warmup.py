"""A linear learning-rate warm-up that leaves the lr alone afterwards (bench/optim.py's schedules use it)."""

import torch
from torch.optim.lr_scheduler import LRScheduler


class LinearWarmup(LRScheduler):
    """Ramps every group's lr from base / N to base over the first N steps, then leaves the lr alone.

    It never touches the lr after the warm-up, so an epoch-level ReduceLROnPlateau on the same optimizer keeps
    its reductions (a LambdaLR would reset the lr to base * factor on every step)."""

    def __init__(self, optimizer: torch.optim.Optimizer, steps: int):
        self.steps = steps
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        if self.last_epoch >= self.steps:
            return [g["lr"] for g in self.optimizer.param_groups]
        return [base * (self.last_epoch + 1) / self.steps for base in self.base_lrs]
