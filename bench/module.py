"""The one LightningModule: input layer -> recurrent encoder -> task head, generic over task and model.

run: python -m bench run --task speech --model gru --max-epochs 1
"""

import dataclasses
import math

import pytorch_lightning as pl
import torch
import torchmetrics
from torch import nn

from bench import models, optim
from bench.base.errors import Diverged

STAGES = ("train", "val", "test")
FINITE_CHECK_EVERY = 20  # optimizer steps between host reads of the divergence flag on an accelerator


class RunningMean(torchmetrics.Metric):
    """Weighted mean of a loss, DDP-synced; MeanMetric's arithmetic without its NaN check, which reads every
    update back to the host (and, switched off, drops the weights). A NaN loss shows as NaN."""

    full_state_update = False

    def __init__(self):
        super().__init__()
        self.add_state("mean_value", torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("weight", torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, value: torch.Tensor, weight: int) -> None:
        self.mean_value += value * weight
        self.weight += weight

    def compute(self) -> torch.Tensor:
        return self.mean_value / self.weight


def finite_check_interval(device: torch.device) -> int:
    """Steps between host reads of the divergence flag: every step on a CPU, where a read costs nothing."""
    return 1 if device.type == "cpu" else FINITE_CHECK_EVERY


def detach_state(state):
    """Cut the graph at a BPTT boundary; LSTM states are (h, c) tuples."""
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def make_encoder(cfg, input_size: int) -> nn.Module:
    """The configured model (bench.models) reading `input_size` features per step, with the options it takes."""
    return models.build_for(cfg, input_size)


class SeqModule(pl.LightningModule):
    def __init__(self, cfg, task, info: dict):
        super().__init__()
        self.cfg, self.task, self.info = cfg, task, info
        layers = task.build(cfg, info, lambda input_size: make_encoder(cfg, input_size))
        self.input_layer, self.encoder, self.head = layers.input, layers.encoder, layers.head
        self.output = layers.output
        # One metric collection per evaluation stage, and a running mean of the loss per stage (DDP-synced).
        # (ModuleDict keys get a suffix: a key named "train" would shadow nn.Module.train.)
        self.metrics = nn.ModuleDict({f"{s}_": task.metrics(info) for s in ("val", "test")})
        self.losses = nn.ModuleDict({f"{s}_": RunningMean() for s in STAGES})
        self.state: dict = {}  # carried recurrent state per stage (stateful tasks only)
        self.results: dict[str, dict] = {}  # last computed metrics per stage, matrices included
        self.history: list[dict] = []  # one row per epoch: train/loss and every scalar val metric
        self.print_epochs = False
        self._recent: list[tuple[int, torch.Tensor]] = []  # (step, loss) since the host last looked at them
        # the first step with a non-finite training loss on this rank, and the loss
        self._bad: tuple[int, float] | None = None

    def __setattr__(self, name, value):
        # Lightning names the hook it is in on the module around every hook call, about 50 times a step; that
        # plain attribute needs none of nn.Module's checks for parameters, buffers and submodules.
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def forward(self, x, lengths=None, state=None):
        return self.from_features(self.input_layer(x), x, lengths, state)  # input layer: x -> [B, T, F]

    def from_features(self, feats, x, lengths=None, state=None):
        """encoder -> head -> the task's output step, from the features [B, T, F] of the batch's x: the forward
        that training runs, and the one the gradient probe differentiates with respect to `feats`."""
        out, state = self.encoder(feats, lengths, state)  # [B, T, H * dirs]
        pred = self.head(out, lengths)
        return (self.output(pred, x) if self.output else pred), state

    def _step(self, batch, stage: str) -> torch.Tensor:
        carried = self.state.get(stage) if self.task.stateful else None
        pred, state = self(batch["x"], batch.get("lengths"), carried)
        if self.task.stateful:
            self.state[stage] = detach_state(state)
        loss = self.task.loss(pred, batch["y"])
        n = batch["y"].numel()  # the loss is a mean over y's elements (tokens for LM): weight batches by them
        self.losses[f"{stage}_"].update(loss.detach(), n)
        if stage != "train":
            self.metrics[f"{stage}_"].update(pred.detach(), batch["y"])
        if stage == "train" and self._shows_steps():
            self.log(
                "train/loss_step", loss.detach(), prog_bar=True, on_step=True, on_epoch=False, batch_size=n
            )
        return loss

    def _shows_steps(self) -> bool:
        """Whether a progress bar or a logger reads per-step values; without one, logging them is pure cost."""
        if self._trainer is None:
            return False
        return self.trainer.progress_bar_callback is not None or bool(self.trainer.loggers)

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        """Everything to the device but `lengths`: packing reads them on the host, and reading them back from a
        GPU would wait for it on every batch."""
        lengths = batch.pop("lengths", None) if isinstance(batch, dict) else None
        batch = super().transfer_batch_to_device(batch, device, dataloader_idx)
        if lengths is not None:
            batch["lengths"] = lengths
        return batch

    def training_step(self, batch, batch_idx):
        loss = self._step(batch, "train")
        # The losses stay on their device; the host reads those of the last few steps at once (every step on a
        # CPU, where reading costs nothing), so a GPU step neither waits for it nor launches work for it.
        self._recent.append((self.global_step, loss.detach()))
        if (self.global_step + 1) % finite_check_interval(loss.device) == 0:
            self._check_finite()
        return loss

    def _check_finite(self) -> None:
        """Raise Diverged on every DDP rank together when any rank has seen a non-finite training loss."""
        if self._recent and self._bad is None:
            steps, losses = zip(*self._recent, strict=True)
            values = torch.stack(losses).tolist()  # one host read
            self._bad = next(
                ((s, v) for s, v in zip(steps, values, strict=True) if not math.isfinite(v)), None
            )
        self._recent = []
        finite = self._bad is None
        if self._trainer is not None:
            finite = self.trainer.strategy.reduce_boolean_decision(finite, all=True)
        if not finite:
            raise Diverged(*self._first_bad())

    def _first_bad(self) -> tuple[int, float]:
        """The first non-finite step over all ranks, and its loss: one collective, only once a run diverged."""
        step, loss = self._bad or (math.inf, math.nan)
        if self._trainer is not None and self.trainer.world_size > 1:
            mine = torch.tensor([step, loss], dtype=torch.float64, device=self.device)
            rows = self.trainer.strategy.all_gather(mine).reshape(-1, 2).tolist()  # [world, 2]
            step, loss = min(rows, key=lambda row: row[0])
        return (int(step), loss) if math.isfinite(step) else (self.global_step, math.nan)

    def on_validation_start(self):
        if self.trainer.state.fn == "fit":  # validation inside fit: never on the weights of a diverged step
            self._check_finite()

    def on_train_end(self):
        self._check_finite()

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")

    def _epoch_start(self, stage: str) -> None:
        self.state.pop(stage, None)  # every pass starts from a zero state

    def on_train_epoch_start(self):
        self._epoch_start("train")

    def on_validation_epoch_start(self):
        self._epoch_start("val")

    def on_test_epoch_start(self):
        self._epoch_start("test")

    def _epoch_end(self, stage: str) -> dict:
        values = {
            "loss": self.losses[f"{stage}_"].compute(),
            **(self.metrics[f"{stage}_"].compute() if stage != "train" else {}),
        }
        self.losses[f"{stage}_"].reset()
        if stage != "train":
            self.metrics[f"{stage}_"].reset()
        self.results[stage] = {k: v.tolist() for k, v in values.items()}
        scalars = {f"{stage}/{k}": v.float() for k, v in values.items() if v.numel() == 1}
        self.log_dict(scalars, prog_bar=stage == "val", sync_dist=True)  # equal on all ranks already
        return {k: v.item() for k, v in scalars.items()}

    def on_validation_epoch_end(self):
        self._last_val = self._epoch_end("val")

    def on_test_epoch_end(self):
        self._epoch_end("test")

    def on_train_epoch_end(self):
        row = {
            "epoch": self.current_epoch,
            **self._epoch_end("train"),
            **getattr(self, "_last_val", {}),
            **{k: v.item() for k, v in self.trainer.callback_metrics.items() if k.startswith("grad/")},
        }
        self.history.append(row)
        if self.print_epochs and self.trainer.is_global_zero:
            text = " ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch" and isinstance(v, float))
            print(f"epoch {row['epoch']}: {text}", flush=True)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # What rebuilding this model needs without the data (`bench generate`): the resolved config and what
        # the task's load() learned (vocabulary, input size, classes). Plain types: loads with weights_only.
        checkpoint["bench"] = {"config": dataclasses.asdict(self.cfg), "info": self.info}

    def configure_optimizers(self):
        return optim.build(
            self.cfg,
            self.parameters(),
            monitor=f"val/{self.task.primary_metric}",
            mode="max" if self.task.higher_is_better else "min",
            total_steps=lambda: self.trainer.estimated_stepping_batches,
        )
