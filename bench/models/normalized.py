"""Normalized recurrent layers: layer-normalized RNN/LSTM/GRU and the batch-normalized LSTM, scripted time loops.

- layer (Ba, Kiros & Hinton 2016): the input pre-activations W_x x and the recurrent ones W_h h are each
  layer-normalized (over the whole G*H vector of a step, with a gain; the cell's bias stays the shift), and the
  LSTM's cell state is normalized before its tanh, h = o * tanh(LN(c)), with gain and bias.
- batch (Cooijmans et al. 2017, LSTM only): the same places, batch-normalized with statistics per time step up
  to BN_MAX_STEPS (later steps share the last slot's population statistics), gains initialised at 0.1,
  W_x x and W_h h without a shift of their own.
- none: the same loop without normalization; it reproduces nn.RNN/LSTM/GRU from the same weights (tested)
  and is the baseline of the speed benchmark. Training with --norm-layer none uses the fused modules instead.

Parameters carry nn.RNN's names (weight_ih_l0, bias_hh_l1_reverse, ...), so the encoder's initialisation
and a fused module's state dict apply unchanged. The input projection of every step is one matrix product
before the loop; only h @ W_hh and the gate arithmetic run per step, in TorchScript (no Python per step).
Padded steps (t >= length) freeze the state and output zeros, as packed sequences do; a batch without lengths
skips the mask arithmetic.

run: python -c "import torch; from bench import models; m = models.build('lstm', 8, 16, norm_layer='layer'); print(m(torch.zeros(2, 5, 8))[0].shape)"
"""

import torch
from torch import Tensor, nn

from bench.models import loops

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
BN_MAX_STEPS = 200  # separate batch-norm statistics for the first steps (Cooijmans et al.: T_max)


class LayerNorms(nn.Module):
    """Gains for LN(W_x x), LN(W_h h) and, for the LSTM (4 gates), LN(c) with gain and bias."""

    kind = 1

    def __init__(self, gates: int, hidden: int):
        super().__init__()
        self.gx = nn.Parameter(torch.ones(gates * hidden))
        self.gh = nn.Parameter(torch.ones(gates * hidden))
        has_cell = gates == GATES["lstm"]
        self.gc = nn.Parameter(torch.ones(hidden)) if has_cell else None
        self.bc = nn.Parameter(torch.zeros(hidden)) if has_cell else None

    def inputs(self, gx: Tensor, mask: Tensor) -> Tensor:
        # gx: [T, B, G*H]; every (t, b) row is normalized on its own
        return loops.layer_norm(gx, self.gx)

    def lstm(self, gx: Tensor, mask: tuple[Tensor, bool], h: Tensor, c: Tensor, w_hh: Tensor, b: Tensor):
        return loops.lstm_loop(gx, mask[0], h, c, w_hh, b, self.kind, self.gh, self.gc, self.bc, mask[1])


class BatchNorms(nn.Module):
    """Per-time-step batch norm of W_x x, W_h h and c (Cooijmans et al. 2017), gamma initialised at 0.1."""

    kind = 2

    def __init__(self, gates: int, hidden: int, gamma: float = 0.1, momentum: float = 0.1):
        super().__init__()
        self.momentum = momentum
        self.gx = nn.Parameter(torch.full((gates * hidden,), gamma))
        self.gh = nn.Parameter(torch.full((gates * hidden,), gamma))
        self.gc = nn.Parameter(torch.full((hidden,), gamma))
        self.bc = nn.Parameter(torch.zeros(hidden))
        for name, size in (("x", gates * hidden), ("h", gates * hidden), ("c", hidden)):
            self.register_buffer(f"mean_{name}", torch.zeros(BN_MAX_STEPS, size))
            self.register_buffer(f"var_{name}", torch.ones(BN_MAX_STEPS, size))

    def inputs(self, gx: Tensor, mask: Tensor) -> Tensor:
        # gx: [T, B, G*H]; statistics over the valid rows of each step
        if self.training:
            mean, var = loops.masked_moments(gx, mask)  # [T, G*H] each
            self.update("x", mean, var)
        else:
            slots = torch.arange(gx.shape[0], device=gx.device).clamp(max=BN_MAX_STEPS - 1)
            mean, var = self.mean_x[slots], self.var_x[slots]
        return (gx - mean[:, None]) * torch.rsqrt(var[:, None] + loops.EPS) * self.gx

    def lstm(self, gx: Tensor, mask: tuple[Tensor, bool], h: Tensor, c: Tensor, w_hh: Tensor, b: Tensor):
        mask = mask[0]  # masked batch statistics, padded or not
        args = (self.gh, self.gc, self.bc, self.mean_h, self.var_h, self.mean_c, self.var_c, self.training)
        out, h, c, stats = loops.bn_lstm_loop(gx, mask, h, c, w_hh, b, *args)
        if self.training:
            self.update("h", stats[0], stats[1])
            self.update("c", stats[2], stats[3])
        return out, h, c

    @torch.no_grad()
    def update(self, name: str, mean: Tensor, var: Tensor) -> None:
        """Running statistics of the first min(T, BN_MAX_STEPS) steps, each in its own slot."""
        n = min(mean.shape[0], BN_MAX_STEPS)
        for stat, batch in ((f"mean_{name}", mean), (f"var_{name}", var)):
            buf = getattr(self, stat)
            buf[:n].lerp_(batch[:n].to(buf.dtype), self.momentum)


class NoNorms(nn.Module):
    """The plain loop (the reference against the fused modules)."""

    kind = 0

    def __init__(self, gates: int, hidden: int):
        super().__init__()
        self.gx = self.gh = self.gc = self.bc = None

    def inputs(self, gx: Tensor, mask: Tensor) -> Tensor:
        return gx

    lstm = LayerNorms.lstm


NORMS = {"layer": LayerNorms, "batch": BatchNorms}
ALL_NORMS = {"none": NoNorms, **NORMS}


class ScriptedRecurrent(nn.Module):
    """A drop-in for nn.RNN/LSTM/GRU (batch_first) with normalization; forward(x, lengths, state)."""

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        batch_first: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
        norm: str = "layer",
        **_,
    ):
        super().__init__()
        if norm == "batch" and cell != "lstm":
            raise ValueError(f"batch normalization is defined for the lstm, not '{cell}'; use norm 'layer'")
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        self.dropout, self.bidirectional, self.norm = dropout, bidirectional, norm
        dirs = 2 if bidirectional else 1
        gates = GATES[cell] * hidden_size
        self.suffixes = [f"l{k}{'_reverse' if d else ''}" for k in range(num_layers) for d in range(dirs)]
        self.norms = nn.ModuleDict()
        for i, sfx in enumerate(self.suffixes):
            size = input_size if i < dirs else hidden_size * dirs
            self.register_parameter(f"weight_ih_{sfx}", nn.Parameter(torch.empty(gates, size)))
            self.register_parameter(f"weight_hh_{sfx}", nn.Parameter(torch.empty(gates, hidden_size)))
            self.register_parameter(f"bias_ih_{sfx}", nn.Parameter(torch.zeros(gates)))
            self.register_parameter(f"bias_hh_{sfx}", nn.Parameter(torch.zeros(gates)))
            self.norms[sfx] = ALL_NORMS[norm](GATES[cell], hidden_size)
        for name, p in self.named_parameters():
            if name.startswith("weight"):
                nn.init.uniform_(
                    p, -(hidden_size**-0.5), hidden_size**-0.5
                )  # as nn.LSTM; the encoder re-inits

    def flatten_parameters(self) -> None:
        """Nothing to regroup: the weights are plain tensors (the fused modules' hook calls this)."""

    def forward(self, x: Tensor, lengths: Tensor | None = None, state=None):
        # x: [B, T, F]; lengths: [B] or None; state: [L * dirs, B, H] (a pair (h, c) for the LSTM) or None
        b, t, _ = x.shape
        dirs = 2 if self.bidirectional else 1
        steps = torch.arange(t, device=x.device)
        masked = lengths is not None
        if lengths is None:
            lengths = torch.full((b,), t, device=x.device)
        lengths = lengths.to(x.device)
        mask = (steps[:, None] < lengths[None, :]).unsqueeze(-1)  # [T, B, 1] valid steps
        # reversing each sequence within its own length; padded steps stay in place
        rev = torch.where(steps[None] < lengths[:, None], lengths[:, None] - 1 - steps[None], steps[None])
        rev = rev.t()  # [T, B]
        h0, c0 = self._initial(state, b, x)
        layer_in = x.transpose(0, 1)  # [T, B, F] time-major: a step is one contiguous slice
        hs, cs = [], []
        for k in range(self.num_layers):
            outs = []
            for d in range(dirs):
                i = k * dirs + d
                seq = _reorder(layer_in, rev) if d else layer_in
                out, h, c = self._direction(self.suffixes[i], seq, (mask, masked), h0[i], c0[i])
                outs.append(_reorder(out, rev) if d else out)
                hs.append(h)
                cs.append(c)
            layer_in = torch.cat(outs, dim=-1) if dirs > 1 else outs[0]  # [T, B, H * dirs]
            if self.dropout and self.training and k < self.num_layers - 1:
                layer_in = nn.functional.dropout(layer_in, self.dropout, training=True)
        out = layer_in.transpose(0, 1)  # [B, T, H * dirs]
        h_n = torch.stack(hs)  # [L * dirs, B, H]
        return out, ((h_n, torch.stack(cs)) if self.cell == "lstm" else h_n)

    def _initial(self, state, b: int, x: Tensor) -> tuple[Tensor, Tensor]:
        n = self.num_layers * (2 if self.bidirectional else 1)
        zeros = torch.zeros(n, b, self.hidden_size, device=x.device, dtype=x.dtype)
        if state is None:
            return zeros, zeros
        return state if isinstance(state, tuple) else (state, zeros)

    def _direction(self, sfx: str, seq: Tensor, mask: tuple[Tensor, bool], h: Tensor, c: Tensor):
        norms = self.norms[sfx]
        w_ih, w_hh = getattr(self, f"weight_ih_{sfx}"), getattr(self, f"weight_hh_{sfx}")
        b_ih, b_hh = getattr(self, f"bias_ih_{sfx}"), getattr(self, f"bias_hh_{sfx}")
        gx = norms.inputs(seq @ w_ih.t(), mask[0])  # [T, B, G*H] every step's input part at once
        return DIRECTIONS[self.cell](norms, gx, mask, h, c, w_hh, b_ih, b_hh)


def _rnn(norms, gx, mask, h, c, w_hh, b_ih, b_hh):
    return (*loops.rnn_loop(gx, mask[0], h, w_hh, b_ih + b_hh, norms.kind, norms.gh, mask[1]), c)


def _gru(norms, gx, mask, h, c, w_hh, b_ih, b_hh):
    return (*loops.gru_loop(gx, mask[0], h, w_hh, b_ih, b_hh, norms.kind, norms.gh, mask[1]), c)


def _lstm(norms, gx, mask, h, c, w_hh, b_ih, b_hh):
    return norms.lstm(gx, mask, h, c, w_hh, b_ih + b_hh)


DIRECTIONS = {"rnn": _rnn, "lstm": _lstm, "gru": _gru}  # (out [T, B, H], h [B, H], c [B, H]) per direction


def _reorder(seq: Tensor, rev: Tensor) -> Tensor:
    """seq [T, B, D] with every sequence reversed within its length (an involution)."""
    return seq.gather(0, rev.unsqueeze(-1).expand_as(seq))  # [T, B, D]
