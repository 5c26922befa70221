"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): gates and candidates read the input only,
so the whole sequence's recurrence is one log-space parallel scan (Heinsen 2023) in training.

    minGRU:  z = sigmoid(W_z x),  h~ = g(W_h x),  h_t = (1 - z) h_{t-1} + z h~
    minLSTM: f, i = sigmoid(W_f x), sigmoid(W_i x);  f', i' = f / (f + i), i / (f + i);  h_t = f' h_{t-1} + i' h~

g(v) = v + 0.5 for v >= 0, sigmoid(v) below keeps every state positive, so log h exists. Each family also has
the sequential step (`parallel = False`, or one step at a time for generation); both compute the same function
(tests/test_scan.py). Padded steps keep the state: their coefficient is 1 and their input 0.

run: python -c "import torch; from bench import models; m = models.build('mingru', 4, 8); print(m(torch.randn(2, 5, 4))[0].shape)"
"""

from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from bench.models import Encoder, ModelSpec, register, valid_steps

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


class MinimalRNN(Encoder):
    """Stacked minGRU or minLSTM layers (cell 'mingru' | 'minlstm'); the state is [L, B, H]."""

    parallel = True  # False: the sequential step path

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

    def _coefficients(self, k: torch.Tensor, keep: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """log a, log b [B, T, H] of h_t = a_t h_{t-1} + b_t from the layer's pre-activations k [B, T, G * H]."""
        k = k.float()  # the scan in fp32 also under bf16 autocast: log-space sums lose little, cumsums do
        if self.cell == "mingru":
            kz, kh = k.chunk(2, dim=-1)
            log_a, log_b = -F.softplus(kz), -F.softplus(-kz) + log_g(kh)
        else:
            kf, ki, kh = k.chunk(3, dim=-1)
            diff = F.softplus(-kf) - F.softplus(-ki)  # log i - log f
            log_a, log_b = -F.softplus(diff), -F.softplus(-diff) + log_g(kh)
        if keep is not None:  # padded steps: a = 1, b = 0
            log_a, log_b = log_a.masked_fill(~keep, 0.0), log_b.masked_fill(~keep, NEG)
        return log_a, log_b

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None, state=None):
        # x: [B, T, F]; lengths: [B] or None; state: [L, B, H] (positive) or None
        keep = valid_steps(x, lengths)  # [B, T, 1] or None
        finals = []
        for layer, ih in enumerate(self.ih):
            h0 = state[layer] if state is not None else None
            log_a, log_b = self._coefficients(ih(x if layer == 0 else self.drop(x)), keep)
            if self.parallel and x.shape[1] > 1:
                out = log_scan(log_a, log_b, h0)
            else:
                out = self._steps(log_a.exp(), log_b.exp(), h0)
            finals.append(out[:, -1])
            x = out.to(x.dtype)  # [B, T, H]
        return x, torch.stack(finals)  # [B, T, H], [L, B, H]

    @staticmethod
    def _steps(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
        """The sequential path: one step at a time, as a carried state or generation runs it."""
        h = h0 if h0 is not None else torch.zeros_like(b[:, 0])
        outs = []
        for s in range(b.shape[1]):
            h = a[:, s] * h + b[:, s]
            outs.append(h)
        return torch.stack(outs, dim=1)


register(
    "mingru",
    ModelSpec(
        partial(MinimalRNN, "mingru"),
        "minGRU: input-only gates, log-space parallel scan",
        "Feng et al. 2024, Were RNNs All We Needed?",
    ),
)
register(
    "minlstm",
    ModelSpec(
        partial(MinimalRNN, "minlstm"),
        "minLSTM: input-only normalized forget/input gates, log-space parallel scan",
        "Feng et al. 2024, Were RNNs All We Needed?",
    ),
)
