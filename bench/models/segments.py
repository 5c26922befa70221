"""Gradient checkpointing over time: the recurrence runs in K segments and only their boundary states are kept.

Backward recomputes one segment at a time, so the stored activations fall from T steps to about T / K steps
plus K boundary states (K near sqrt(T) gives memory near 2 sqrt(T) steps) for one extra forward pass, and the
gradients are exact. Sequences that ended before a segment keep their state and output zeros there, as
packed sequences do.

run: python -c "import torch; from bench import models; m = models.build('lstm', 4, 8, checkpoint_segments=4); print(m(torch.randn(2, 40, 4))[0].shape)"
"""

import math
from collections.abc import Callable

import torch
from torch.utils import checkpoint as ckpt


def checkpoint(run: Callable, *args):
    # Early stop ends a recomputation by raising an exception once the needed tensors exist; TorchScript turns
    # it into a RuntimeError inside the scripted loops, so the whole segment is recomputed instead.
    with ckpt.set_checkpoint_early_stop(False):
        return ckpt.checkpoint(run, *args, use_reentrant=False)


def _keep(active: torch.Tensor, new, old):
    """The new state where a sequence was active in the segment, the old one elsewhere (tuples for the LSTM)."""
    if isinstance(new, tuple):
        return tuple(_keep(active, n, o) for n, o in zip(new, old, strict=True))
    return torch.where(active[None, :, None], new, old)  # [L, B, H]


def run_segments(run: Callable, x: torch.Tensor, lengths: torch.Tensor | None, state, segments: int):
    """run(x [B, t, F], lengths, state) -> (out [B, t, D], state), applied to K time segments under checkpoint."""
    t = x.shape[1]
    size = math.ceil(t / segments)
    outs = []
    for start in range(0, t, size):
        seg = x[:, start : start + size]  # [B, t_k, F]
        if lengths is None:
            out, state = checkpoint(run, seg, None, state)
        else:
            seg_len = (lengths - start).clamp(0, seg.shape[1])
            active = (seg_len > 0).to(x.device)  # [B]
            out, new = checkpoint(run, seg, seg_len.clamp(min=1), state)
            out = out * active[:, None, None].to(out.dtype)  # [B, t_k, D]; ended sequences output zeros
            state = new if state is None else _keep(active, new, state)
        outs.append(out)
    return torch.cat(outs, dim=1), state  # [B, T, D]
