"""The Linear Recurrent Unit (Orvieto et al. 2023, "Resurrecting Recurrent Neural Networks for Long Sequences"):
a diagonal complex linear recurrence, solved by a linear scan, inside the paper's residual block.

    x_t = lambda * x_{t-1} + gamma * (B u_t),   y_t = Re(C x_t) + D * u_t
    lambda = exp(-exp(nu) + i exp(theta))  (stable exponential parametrisation, |lambda| < 1 always)
    gamma = sqrt(1 - |lambda|^2)            (normalisation: a white input keeps the state's scale)
    ring initialisation: |lambda| uniform on [r_min, r_max], phase uniform on [0, max_phase]

A block is LayerNorm -> LRU -> GELU -> GLU, added back to its input (pre-norm residual, the paper's MLP/GLU
form). `scan` picks how the recurrence is solved (bench/models/scan.py): "fused" (the default, one pass over
time with a hand-written backward), "parallel" (Hillis-Steele doubling, log2(T) elementwise passes, the
paper's associative scan) or "steps" (one autograd step at a time); tests/test_scan.py checks they agree.

run: python -c "import torch; from bench import models; m = models.build('lru', 4, 8); print(m(torch.randn(2, 5, 4))[0].shape)"
"""

import math

import torch
from torch import nn

from bench.models.encoder import Encoder, valid_steps
from bench.models.scan import doubling_scan, fused_scan, step_scan


class LRULayer(nn.Module):
    def __init__(
        self, size: int, state: int, r_min: float = 0.9, r_max: float = 0.999, max_phase: float = math.pi / 10
    ):
        super().__init__()
        u1, u2 = torch.rand(state), torch.rand(state)
        nu = -0.5 * torch.log(u1 * (r_max**2 - r_min**2) + r_min**2)
        self.nu_log = nn.Parameter(nu.log())
        self.theta_log = nn.Parameter((max_phase * u2).log())
        self.gamma_log = nn.Parameter(torch.log(torch.sqrt(1 - torch.exp(-2 * nu))))
        self.B = nn.Linear(size, 2 * state, bias=False)  # real and imaginary parts
        self.C = nn.Linear(2 * state, size, bias=False)
        nn.init.normal_(self.B.weight, std=1 / math.sqrt(2 * size))
        nn.init.normal_(self.C.weight, std=1 / math.sqrt(state))
        self.D = nn.Parameter(torch.randn(size))
        self.state_size = state

    def forward(self, u: torch.Tensor, keep: torch.Tensor | None, x0: torch.Tensor | None, scan: str):
        # u: [B, T, H]; keep: [B, T, 1] or None; x0: [B, N] complex or None
        lam = torch.exp(torch.complex(-self.nu_log.exp(), self.theta_log.exp()))  # [N]
        bu = self.B(u).float()
        bu = torch.complex(*bu.chunk(2, dim=-1)) * self.gamma_log.exp()  # [B, T, N] complex, fp32
        a = lam.expand_as(bu)
        if keep is not None:  # padded steps: a = 1, input 0
            a, bu = torch.where(keep, a, torch.ones_like(a)), torch.where(keep, bu, torch.zeros_like(bu))
        if x0 is not None:
            bu = torch.cat([bu[:, :1] + a[:, :1] * x0.unsqueeze(1), bu[:, 1:]], dim=1)
        x = {"fused": fused_scan, "parallel": doubling_scan, "steps": step_scan}[scan](a, bu)
        y = self.C(torch.cat([x.real, -x.imag], dim=-1).to(u.dtype)) + self.D * u  # Re(C x) + D u
        return y, x[:, -1]


class LRU(Encoder):
    """Input projection to H, then `num_layers` pre-norm residual LRU blocks; the state is the complex [L, B, N]."""

    scan = "fused"  # or "parallel" | "steps" (module docstring)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.output_size = hidden_size
        self.proj = nn.Linear(input_size, hidden_size)
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_size) for _ in range(num_layers))
        self.lrus = nn.ModuleList(LRULayer(hidden_size, hidden_size) for _ in range(num_layers))
        self.glus = nn.ModuleList(nn.Linear(hidden_size, 2 * hidden_size) for _ in range(num_layers))
        self.drop = nn.Dropout(dropout)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "ih": [self.proj.weight] + [m.B.weight for m in self.lrus],
            "hh": [p for m in self.lrus for p in (m.nu_log, m.theta_log)],  # what sets lambda, the recurrence
        }

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None, state=None):
        keep = valid_steps(x, lengths)  # [B, T, 1] or None
        u, finals = self.proj(x), []  # [B, T, H]
        for layer, (norm, lru, glu) in enumerate(zip(self.norms, self.lrus, self.glus, strict=True)):
            y, last = lru(norm(u), keep, state[layer] if state is not None else None, self.scan)
            u = u + self.drop(nn.functional.glu(glu(nn.functional.gelu(y)), dim=-1))
            finals.append(last)
        return u, torch.stack(finals)  # [B, T, H], [L, B, N] complex
