"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): gates and candidates read the input only,
so the whole sequence's recurrence is one linear scan over time in training.

    minGRU:  z = sigmoid(W_z x),  h~ = g(W_h x),  h_t = (1 - z) h_{t-1} + z h~
    minLSTM: f, i = sigmoid(W_f x), sigmoid(W_i x);  f', i' = f / (f + i), i / (f + i);  h_t = f' h_{t-1} + i' h~

g(v) = v + 0.5 for v >= 0, sigmoid(v) below keeps every state positive, so log h exists. The coefficients are
computed in log space, as in the paper; `scan` picks how h is solved from them: "fused" (the default, one pass
over time with a hand-written backward, bench/models/scan.py: the fastest on a CPU), "parallel" (the paper's
log-space parallel scan, Heinsen 2023: logcumsumexp, for a GPU) or "steps" (one autograd step at a time, as
generation runs it). All three compute the same function (tests/test_scan.py). Padded steps keep the state:
their coefficient is 1 and their input 0.

run: python -c "import torch; from bench import models; m = models.build('mingru', 4, 8); print(m(torch.randn(2, 5, 4))[0].shape)"
"""

import torch
from torch import nn
from torch.nn import functional as F

from bench.models.encoder import Encoder, valid_steps
from bench.models.scan import fused_scan, step_scan

NEG = -1e4  # log of a value that is 0 (a padded step's input): exp() gives 0, and gradients stay finite


def log_g(v: torch.Tensor) -> torch.Tensor:
    """log g(v), g(v) = v + 0.5 (v >= 0) or sigmoid(v) (v < 0)."""
    return torch.where(v >= 0, torch.log(F.relu(v) + 0.5), -F.softplus(-v))


def log_scan(log_a: torch.Tensor, log_b: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
    """h_t = a_t h_{t-1} + b_t for all t at once, from log a, log b [B, T, H] and h0 [B, H] (> 0) or None."""
    if h0 is not None:
        log_a = F.pad(log_a, (0, 0, 1, 0))  # [B, T + 1, H]: h0 enters as step 0's value
        log_b = torch.cat([h0.clamp_min(1e-30).log().unsqueeze(1), log_b], dim=1)
    a_star = log_a.cumsum(dim=1)
    log_h = a_star + torch.logcumsumexp(log_b - a_star, dim=1)
    h = log_h.exp()
    return h[:, 1:] if h0 is not None else h  # [B, T, H]


class _Gates(torch.autograd.Function):
    """a = sigmoid(-d), b = sigmoid(d) g(v) with the backward written out: 8 passes over [B, T, H] forward and
    9 back, where autograd's graph of the same formulas takes 24 (an equal-size minGRU is elementwise-bound)."""

    @staticmethod
    def forward(ctx, d: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, z, pos = torch.sigmoid(-d), torch.sigmoid(d), v >= 0
        g = torch.where(pos, v + 0.5, torch.sigmoid(v))
        ctx.save_for_backward(a, z, g, pos)
        return a, z * g

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_a: torch.Tensor, grad_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, z, g, pos = ctx.saved_tensors
        grad_d = (grad_b * g).sub_(grad_a).mul_(a).mul_(z)  # da/dd = -az, db/dd = az g
        dg = torch.where(pos, 1.0, g * (1 - g))  # g' = 1 above 0, sigmoid' = g (1 - g) below
        return grad_d, (grad_b * z).mul_(dg)


class MinimalRNN(Encoder):
    """Stacked minGRU or minLSTM layers (cell 'mingru' | 'minlstm'); the state is [L, B, H]."""

    scan = "fused"  # or "parallel" | "steps" (module docstring)

    def __init__(
        self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0
    ):
        super().__init__()
        self.cell, self.output_size, self.drop = cell, hidden_size, nn.Dropout(dropout)
        gates = 2 if cell == "mingru" else 3
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.ih = nn.ModuleList(nn.Linear(n, gates * hidden_size) for n in sizes)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"ih": [m.weight for m in self.ih], "hh": []}  # no hidden-to-hidden weights: that is the point

    def _coefficients(
        self, k: torch.Tensor, keep: torch.Tensor | None, log: bool
    ) -> tuple[torch.Tensor, ...]:
        """a, b [B, T, H] of h_t = a_t h_{t-1} + b_t (or their logs) from the pre-activations k [B, T, G * H]."""
        k = k.float()  # the scan in fp32 also under bf16 autocast: log-space sums lose little, cumsums do
        if self.cell == "mingru":
            d, kh = k.chunk(2, dim=-1)  # z = sigmoid(d)
        else:
            kf, ki, kh = k.chunk(3, dim=-1)
            d = F.softplus(-kf) - F.softplus(-ki)  # log i - log f: i' = sigmoid(d), f' = sigmoid(-d)
        if log:
            a, b, padded = -F.softplus(d), -F.softplus(-d) + log_g(kh), (0.0, NEG)
        else:  # the same without a log or exp per element: what the fused and step paths need
            (a, b), padded = _Gates.apply(d, kh), (1.0, 0.0)
        if keep is not None:  # padded steps keep the state: a = 1, b = 0
            a, b = a.masked_fill(~keep, padded[0]), b.masked_fill(~keep, padded[1])
        return a, b

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None, state=None):
        # x: [B, T, F]; lengths: [B] or None; state: [L, B, H] (positive) or None
        keep = valid_steps(x, lengths)  # [B, T, 1] or None
        parallel, finals = self.scan == "parallel" and x.shape[1] > 1, []
        for layer, ih in enumerate(self.ih):
            h0 = state[layer] if state is not None else None
            a, b = self._coefficients(ih(x if layer == 0 else self.drop(x)), keep, log=parallel)
            if parallel:
                out = log_scan(a, b, h0)
            else:
                if h0 is not None:  # h_1 = a_1 h0 + b_1
                    b = torch.cat([b[:, :1] + a[:, :1] * h0.unsqueeze(1), b[:, 1:]], dim=1)
                out = fused_scan(a, b) if self.scan == "fused" else step_scan(a, b)
            finals.append(out[:, -1])
            x = out.to(x.dtype)  # [B, T, H]
        return x, torch.stack(finals)  # [B, T, H], [L, B, H]
