"""Scripted time loops of the normalized recurrent layers (bench/models/normalized.py), one per cell.

Each takes the input pre-activations of every step at once (gx [T, B, G*H], already through the input norm),
the valid-step mask [T, B, 1] (`masked` False: every step is valid, no mask arithmetic) and the initial state, and runs only h @ W_hh and the gate arithmetic per step.
`kind` selects the recurrent normalization: 0 none, 1 layer norm, 2 batch norm (bn_lstm_loop). TorchScript
runs the loop without the Python interpreter per step, and nothing in it reads a value back to the host.

run: python -c "import torch; from bench.models import loops; print(loops.layer_norm(torch.randn(2, 4), torch.ones(4)).std(-1))"
"""

import warnings

import torch
from torch import Tensor
from torch.nn import functional as F

EPS = 1e-5


def script(fn):
    """torch.jit.script, quietly. torch 2.11 deprecates TorchScript in favour of torch.compile, but compile
    unrolls a Python loop over time (a graph per sequence length, and minutes of compilation at T = 1000),
    while a scripted loop takes any length at once."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.script(fn)


@script
def layer_norm(v: Tensor, gain: Tensor, bias: Tensor | None = None) -> Tensor:
    """(v - mean) / sqrt(var + eps) * gain (+ bias) over the last dimension (Ba et al. 2016, biased var)."""
    return F.layer_norm(v, [v.size(-1)], gain, bias, 1e-5)


@script
def masked_moments(v: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and biased variance over the batch of each step, valid rows only: v [T, B, D] -> [T, D] each."""
    m = mask.to(v.dtype)  # [T, B, 1]
    n = m.sum(1).clamp(min=1.0)  # [T, 1]
    mean = (v * m).sum(1) / n
    var = ((v - mean.unsqueeze(1)) * m).pow(2).sum(1) / n
    return mean, var


@script
def rnn_loop(
    gx: Tensor,
    mask: Tensor,
    h: Tensor,
    w_hh: Tensor,
    b: Tensor,
    kind: int,
    gh: Tensor | None,
    masked: bool = True,
) -> tuple[Tensor, Tensor]:
    # h_t = tanh(N(W_x x_t) + N(W_h h_{t-1}) + b); gx: [T, B, H], h: [B, H]
    gx = gx + b
    # one view per step: indexing gx[t] would give every step's backward a zero-filled [T, B, G*H] gradient
    xs = gx.unbind(0)
    w = w_hh.t()
    outs: list[Tensor] = []
    for t in range(gx.size(0)):
        rec = torch.mm(h, w)  # [B, H]
        if kind == 1:
            assert gh is not None
            rec = F.layer_norm(rec, [rec.size(1)], gh, None, 1e-5)
        h_new = torch.tanh(xs[t] + rec)
        if masked:
            m = mask[t]  # [B, 1]
            h = torch.where(m, h_new, h)
            outs.append(h_new.masked_fill(~m, 0.0))
        else:
            h = h_new
            outs.append(h_new)
    return torch.stack(outs), h  # [T, B, H], [B, H]


@script
def lstm_loop(
    gx: Tensor,
    mask: Tensor,
    h: Tensor,
    c: Tensor,
    w_hh: Tensor,
    b: Tensor,
    kind: int,
    gh: Tensor | None,
    gc: Tensor | None,
    bc: Tensor | None,
    masked: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    # gates i, f, g, o (torch's order) = N(W_x x) + N(W_h h) + b; c = f c + i g; h = o tanh(N(c)); gx: [T, B, 4H]
    gx = gx + b
    # one view per step: indexing gx[t] would give every step's backward a zero-filled [T, B, G*H] gradient
    xs = gx.unbind(0)
    w = w_hh.t()
    hidden = h.size(1)
    outs: list[Tensor] = []
    for t in range(gx.size(0)):
        if kind == 1:
            assert gh is not None
            rec = torch.mm(h, w)  # [B, 4H]
            gates = xs[t] + F.layer_norm(rec, [rec.size(1)], gh, None, 1e-5)
        else:
            gates = torch.addmm(xs[t], h, w)  # one kernel for W_h h + the input part
        sig = torch.sigmoid(gates)  # one call for all gates; g's slice is unused
        i, f, o = sig[:, :hidden], sig[:, hidden : 2 * hidden], sig[:, 3 * hidden :]
        c_new = f * c + i * torch.tanh(gates[:, 2 * hidden : 3 * hidden])  # [B, H] carried unnormalized
        c_out = c_new
        if kind == 1:
            assert gc is not None
            c_out = F.layer_norm(c_new, [c_new.size(1)], gc, bc, 1e-5)
        h_new = o * torch.tanh(c_out)
        if masked:
            m = mask[t]  # [B, 1]
            h = torch.where(m, h_new, h)
            c = torch.where(m, c_new, c)
            outs.append(h_new.masked_fill(~m, 0.0))
        else:
            h, c = h_new, c_new
            outs.append(h_new)
    return torch.stack(outs), h, c


@script
def gru_loop(
    gx: Tensor,
    mask: Tensor,
    h: Tensor,
    w_hh: Tensor,
    b_ih: Tensor,
    b_hh: Tensor,
    kind: int,
    gh: Tensor | None,
    masked: bool = True,
) -> tuple[Tensor, Tensor]:
    # r, z = sigmoid(x_rz + h_rz); n = tanh(x_n + r * h_n); h = (1 - z) n + z h, with x_* = N(W_x x) + b_ih and
    # h_* = N(W_h h) + b_hh (torch's GRU: the reset gate scales the recurrent part of n, bias included)
    gx = gx + b_ih
    # one view per step: indexing gx[t] would give every step's backward a zero-filled [T, B, G*H] gradient
    xs = gx.unbind(0)
    w = w_hh.t()
    outs: list[Tensor] = []
    for t in range(gx.size(0)):
        rec = torch.mm(h, w)  # [B, 3H]
        if kind == 1:
            assert gh is not None
            rec = F.layer_norm(rec, [rec.size(1)], gh, None, 1e-5)
        xr, xz, xn = xs[t].chunk(3, 1)
        hr, hz, hn = (rec + b_hh).chunk(3, 1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        h_new = (1.0 - z) * n + z * h
        if masked:
            m = mask[t]  # [B, 1]
            h = torch.where(m, h_new, h)
            outs.append(h_new.masked_fill(~m, 0.0))
        else:
            h = h_new
            outs.append(h_new)
    return torch.stack(outs), h


@script
def _batch_norm_step(
    v: Tensor, m: Tensor, mean: Tensor, var: Tensor, gain: Tensor, training: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """Normalize one step's [B, D] over the valid rows (training) or with the slot's running statistics."""
    if training:
        mf = m.to(v.dtype)  # [B, 1]
        n = mf.sum().clamp(min=1.0)
        mean = (v * mf).sum(0) / n
        var = ((v - mean) * mf).pow(2).sum(0) / n
    return (v - mean) * torch.rsqrt(var + 1e-5) * gain, mean, var


@script
def bn_lstm_loop(
    gx: Tensor,
    mask: Tensor,
    h: Tensor,
    c: Tensor,
    w_hh: Tensor,
    b: Tensor,
    gh: Tensor,
    gc: Tensor,
    bc: Tensor,
    mean_h: Tensor,
    var_h: Tensor,
    mean_c: Tensor,
    var_c: Tensor,
    training: bool,
) -> tuple[Tensor, Tensor, Tensor, list[Tensor]]:
    # Cooijmans et al. 2017: gates = BN(W_h h; gh) + BN(W_x x; gx) + b; h = o tanh(BN(c; gc, bc)), statistics
    # per step (slot min(t, T_max - 1) of the running ones in evaluation). Returns the batch moments per step.
    gx = gx + b
    # one view per step: indexing gx[t] would give every step's backward a zero-filled [T, B, G*H] gradient
    xs = gx.unbind(0)
    w = w_hh.t()
    last = mean_h.size(0) - 1
    outs: list[Tensor] = []
    mh: list[Tensor] = []
    vh: list[Tensor] = []
    mc: list[Tensor] = []
    vc: list[Tensor] = []
    for t in range(gx.size(0)):
        m = mask[t]  # [B, 1]
        s = min(t, last)
        rec, mu, var = _batch_norm_step(torch.mm(h, w), m, mean_h[s], var_h[s], gh, training)
        mh.append(mu)
        vh.append(var)
        i, f, g, o = (xs[t] + rec).chunk(4, 1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        c_out, mu, var = _batch_norm_step(c_new, m, mean_c[s], var_c[s], gc, training)
        mc.append(mu)
        vc.append(var)
        h_new = torch.sigmoid(o) * torch.tanh(c_out + bc)
        h = torch.where(m, h_new, h)
        c = torch.where(m, c_new, c)
        outs.append(h_new.masked_fill(~m, 0.0))
    stats = [torch.stack(mh), torch.stack(vh), torch.stack(mc), torch.stack(vc)]
    return torch.stack(outs), h, c, stats
