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

import matplotlib
import pytorch_lightning as pl
import torch

from bench.config import parse_clip

matplotlib.use("Agg")

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
    def __init__(self, clip: str):
        self.limit, self.algo = parse_clip(clip)
        self.norms: list[float] = []
        self.ih: list[float] = []
        self.hh: list[float] = []
        self.clipped = 0
        self.nonfinite = 0
        self.probe = None
        self.profile: list[float] = []
        self.reaches: list[float] = []  # one per validation epoch

    def on_before_optimizer_step(self, trainer, module, optimizer):  # Lightning calls this before clipping
        groups = {"ih": [], "hh": [], "all": []}
        for name, p in module.named_parameters():
            if p.grad is None:
                continue
            groups["all"].append(p.grad)
            if "weight_ih" in name:
                groups["ih"].append(p.grad)
            elif "weight_hh" in name:
                groups["hh"].append(p.grad)
        norms = {
            k: torch.linalg.vector_norm(torch.stack(torch._foreach_norm(g))) if g else torch.zeros(())
            for k, g in groups.items()
        }
        fired = torch.zeros((), dtype=torch.bool)
        if self.algo == "norm":
            fired = norms["all"] > self.limit
        elif self.algo == "value":
            fired = torch.stack([g.abs().max() for g in groups["all"]]).max() > self.limit
        total, ih, hh, fired = torch.stack([norms["all"], norms["ih"], norms["hh"], fired.float()]).tolist()
        if not math.isfinite(total):
            self.nonfinite += 1
        self.norms.append(total)
        self.ih.append(ih)
        self.hh.append(hh)
        self.clipped += int(fired)

    def on_validation_epoch_end(self, trainer, module):
        if trainer.sanity_checking:
            return
        if self.probe is None:
            self.probe = probe_batch(trainer, module)
        x, y = self.probe
        feats = module.input_layer(x)  # [B, T, F]

        def loss_fn(f):
            out, _ = module.encoder(f)
            return module.task.final_loss(module.head(out, None), y)

        self.profile = temporal_profile(loss_fn, feats)
        self.reaches.append(reach(self.profile))
        module.history_extra["grad/reach"] = self.reaches[-1]

    def summary(self) -> dict:
        finite = [n for n in self.norms if math.isfinite(n)]
        if not finite:
            return {"grad/nonfinite_steps": self.nonfinite}
        q = statistics.quantiles(finite, n=100, method="inclusive") if len(finite) > 1 else [finite[0]] * 99
        out = {
            "grad/norm_median": statistics.median(finite),
            "grad/norm_p99": q[98],
            "grad/norm_max": max(finite),
            "grad/ih_norm_median": _median(self.ih),
            "grad/hh_norm_median": _median(self.hh),
            "grad/clip_rate": self.clipped / len(self.norms),
            "grad/nonfinite_steps": self.nonfinite,
            "grad/spikes": sum(n > SPIKE * statistics.median(finite) for n in finite),
        }
        if self.profile:
            out["grad/reach"] = reach(self.profile)  # at the last validation epoch
            out["grad/reach_median"] = _median([r for r in self.reaches if not math.isnan(r)])
        return out


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
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.semilogy(range(len(profile)), [p if p > 0 else float("nan") for p in profile])
    ax.set_xlabel("input time step t")
    ax.set_ylabel("‖∂ loss_T / ∂ x_t‖")
    ax.set_title(f"{title}, reach {reach(profile):.2f}", fontsize=9)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return str(path)
