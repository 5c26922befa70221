"""Gradient diagnostics, on in every run: how gradients explode (norms, clipping) and vanish (temporal profile).

- At every optimizer step, before clipping: the global gradient norm, the norms of the input-to-hidden and
  hidden-to-hidden weights, whether clipping changed the gradient, whether it was finite.
- At the end of every validation epoch, on a fixed probe batch: the norm of the gradient of the final-step
  loss with respect to the input at each time step t. Its summary, the gradient reach, is
  log10(norm at the earliest step / norm at the last): 0 means the first input matters as much as the last,
  -5 means its gradient is 100,000 times weaker.

run: python -m bench run --task probes --dataset adding --model rnn  (then see the record's grad_summary)
"""

import math
import statistics

import pytorch_lightning as pl
import torch

from bench.config import Clip

PROBE_SIZE = 16
SPIKE = 10  # a step whose gradient norm exceeds 10x the run's median norm counts as a spike


def temporal_profile(loss_fn, feats: torch.Tensor) -> list[float]:
    """Mean over the batch of ||d loss / d x_t|| for each step t of feats [B, T, F]."""
    feats = feats.detach().clone().requires_grad_(True)
    with (
        torch.enable_grad(),
        torch.backends.cudnn.flags(enabled=False),
    ):  # cuDNN RNN backward needs train mode
        (grad,) = torch.autograd.grad(loss_fn(feats), feats)
    return grad.norm(dim=2).mean(0).tolist()  # [T]


def reach(profile: list[float]) -> float:
    """log10(first / last); NaN where it is undefined (an empty or non-finite profile, a zero last step)."""
    if not profile:
        return math.nan
    first, last = profile[0], profile[-1]
    if not (first > 0 and last > 0):
        return -math.inf if last > 0 else math.nan
    return math.log10(first / last)


class GradientDiagnostics(pl.Callback):
    """Per-step gradient statistics, kept on the gradients' device and read to the host once per epoch (or when
    asked for), so a GPU step never waits for the host."""

    def __init__(self, clip: Clip):
        self.limit, self.algo = clip
        self._pending: list[torch.Tensor] = []  # one [4] row per step: total, ih, hh norms, clip fired
        self._module, self._parameters = None, []
        self._group_key: tuple = ()
        self._group_mask = torch.ones(0)
        self.grouped = True  # whether the encoder declared its ih / hh parameters
        self._rows: list[list[float]] = []
        self.probe = None
        self.profile: list[float] = []
        self.reaches: list[float] = []  # one per validation epoch

    def on_before_optimizer_step(self, trainer, module, optimizer):  # Lightning calls this before clipping
        if self._module is not module:  # walking the module tree on every step costs more than the rest
            self._module, self._parameters = module, list(module.named_parameters())
        named = [(n, p.grad) for n, p in self._parameters if p.grad is not None]
        if not named:
            return
        grads = [g for _, g in named]
        squares = torch.stack(torch._foreach_norm(grads)).float() ** 2  # [P]
        # total, input-to-hidden and hidden-to-hidden norms in one reduction; `where`, not a 0/1 product, so an
        # inf in one group does not turn another group's norm into NaN
        norms = torch.where(self._groups(named, squares.device), squares, 0).sum(1).sqrt()  # [3]
        if self.algo == "norm":
            fired = norms[:1] > self.limit
        elif self.algo == "value":
            fired = torch.stack(torch._foreach_norm(grads, math.inf)).amax(0, keepdim=True) > self.limit
        else:
            fired = torch.zeros(1, dtype=torch.bool, device=norms.device)
        self._pending.append(torch.cat([norms, fired.float()]))

    def _groups(self, named, device) -> torch.Tensor:
        """[3, P] membership of each parameter in the total, the ih and the hh group, built once per run. The
        groups are what the encoder declares (bench.models.Encoder.parameter_groups), by identity, not name."""
        names = tuple(n for n, _ in named)
        if self._group_key != (names, device):
            self._group_key = (names, device)
            declared = getattr(getattr(self._module, "encoder", None), "parameter_groups", dict)()
            self.grouped = bool(declared.get("ih") or declared.get("hh"))
            by_id = {g: {id(p) for p in declared.get(g, [])} for g in ("ih", "hh")}
            params = dict(self._parameters)
            rows = [[True] * len(names)] + [[id(params[n]) in by_id[g] for n in names] for g in ("ih", "hh")]
            self._group_mask = torch.tensor(rows, device=device)
        return self._group_mask

    def on_train_epoch_end(self, trainer, module):
        self._flush()

    def _flush(self) -> None:
        """One host read for every step since the last one."""
        if self._pending:
            self._rows += torch.stack(self._pending).tolist()
            self._pending = []

    def _column(self, i: int) -> list[float]:
        self._flush()
        return [row[i] for row in self._rows]

    @property
    def norms(self) -> list[float]:
        return self._column(0)

    @property
    def ih(self) -> list[float]:
        return self._column(1)

    @property
    def hh(self) -> list[float]:
        return self._column(2)

    @property
    def clipped(self) -> int:
        return int(sum(self._column(3)))

    @property
    def nonfinite(self) -> int:
        return sum(not math.isfinite(n) for n in self.norms)

    def on_validation_epoch_end(self, trainer, module):
        if trainer.sanity_checking:
            return
        if self.probe is None:
            self.probe = probe_batch(trainer, module)
        x, y = self.probe
        self.profile = temporal_profile(lambda f: probe_loss(module, f, x, y), module.input_layer(x))
        self.reaches.append(reach(self.profile))
        # through Lightning's logging: into the epoch's history row, the progress bar's metrics and W&B
        module.log("grad/reach", self.reaches[-1], rank_zero_only=True)

    def summary(self) -> dict:
        norms = self.norms
        finite = [n for n in norms if math.isfinite(n)]
        if not finite:
            return {"grad/nonfinite_steps": self.nonfinite}
        q = statistics.quantiles(finite, n=100, method="inclusive") if len(finite) > 1 else [finite[0]] * 99
        out = {
            "grad/norm_median": statistics.median(finite),
            "grad/norm_p99": q[98],
            "grad/norm_max": max(finite),
            # NaN, not 0, for a model that declares no groups: "not measured" is not "no gradient"
            "grad/ih_norm_median": _median(self.ih) if self.grouped else math.nan,
            "grad/hh_norm_median": _median(self.hh) if self.grouped else math.nan,
            "grad/clip_rate": self.clipped / len(norms),
            "grad/nonfinite_steps": self.nonfinite,
            "grad/spikes": sum(n > SPIKE * statistics.median(finite) for n in finite),
        }
        if self.profile:
            out["grad/reach"] = reach(self.profile)  # at the last validation epoch
            out["grad/reach_median"] = _median([r for r in self.reaches if not math.isnan(r)])
        return out


def probe_loss(module, feats: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The final-step loss of the probe batch from its features: through the module's own forward (the task's
    output step included), so the profile is measured on the loss that is trained."""
    pred, _ = module.from_features(feats, x)
    return module.task.final_loss(pred, y)


def _median(values: list[float]) -> float:
    """The median, NaN for no values: a saturated run (every reach undefined) still gets its summary."""
    return statistics.median(values) if values else math.nan


def probe_batch(trainer, module) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed batch from the start of the validation data, cut to one length (the shortest of the longest few)."""
    batch = next(iter(trainer.datamodule.val_dataloader()))
    x, y, lengths = batch["x"][:PROBE_SIZE], batch["y"][:PROBE_SIZE], batch.get("lengths")
    if lengths is not None:
        x = x[:, : int(lengths[:PROBE_SIZE].min())]
    return x.to(module.device), y.to(module.device)


def save_profile_plot(profile: list[float], path, title: str) -> str:
    """The temporal profile on a log axis, drawn once: fixed margins instead of a tight bounding box (which draws
    the figure twice) and no minor ticks on the log axis (dozens of tick artists): 0.2 s instead of 0.65 s of
    every cell's time on the 2-core CPU."""
    # here, not at the top: start-up of every run pays for what it imports
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullLocator

    fig = Figure(figsize=(5, 3.2))
    fig.subplots_adjust(left=0.16, bottom=0.15, right=0.97, top=0.9)
    ax = fig.subplots()
    ax.semilogy(range(len(profile)), [p if p > 0 else float("nan") for p in profile])
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("input time step t")
    ax.set_ylabel("‖∂ loss_T / ∂ x_t‖")
    ax.set_title(f"{title}, reach {reach(profile):.2f}", fontsize=9)
    fig.savefig(path, dpi=90)
    return str(path)
