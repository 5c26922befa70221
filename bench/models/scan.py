"""Three ways to solve the linear recurrence x_t = a_t x_{t-1} + b_t (x_0 = 0) for every t of [B, T, N] at once,
the training path of the scan families (minGRU, minLSTM, LRU). All are plain torch and run on any device.

- `fused_scan`: one pass over time forward and one reverse pass backward, each a single multiply-add over
  [B, N] per step, with a hand-written backward (g_{t-1} += a_t g_t), so autograd keeps no per-step graph
  and saves only a and x. This is what a CUDA selective-scan kernel does per channel, and on a CPU the
  fastest exact path: O(T) work, and the multiply-adds in order, as the sequential definition.
- `step_scan`: one autograd step at a time, as generation and a carried state run it: the reference.
- `doubling_scan`: Hillis-Steele doubling, log2(T) elementwise passes over the whole sequence, O(T log T)
  work and memory. Parallel in T, which only pays where there are more cores than B * N (a GPU).

For |a| <= 1 all are stable in linear space: products of a only shrink toward 0, which is their limit. Real
or complex a, b (the LRU's). tests/test_scan.py checks them against the loop, and the gradients too.

run: python -c "import torch; from bench.models.scan import fused_scan; print(fused_scan(torch.full((1, 4, 1), .5), torch.ones(1, 4, 1)).flatten())"
"""

import torch


class _FusedScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        a_t, b_t = a.transpose(0, 1), b.transpose(0, 1)  # [T, B, N] views: a step is one slice
        x = torch.empty(b_t.shape, dtype=b.dtype, device=b.device)
        x[0] = b_t[0]
        for t in range(1, x.shape[0]):
            torch.addcmul(b_t[t], a_t[t], x[t - 1], out=x[t])
        ctx.save_for_backward(a, x)
        return x.transpose(0, 1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, x = ctx.saved_tensors  # a [B, T, N], x [T, B, N]
        a_t, g_t = a.transpose(0, 1).conj(), grad.transpose(0, 1)
        gb = torch.empty_like(x)  # dL/db_t = dL/dx_t, all paths through later steps included
        gb[-1] = g_t[-1]
        for t in range(x.shape[0] - 2, -1, -1):
            torch.addcmul(g_t[t], a_t[t + 1], gb[t + 1], out=gb[t])
        ga = torch.zeros_like(x)
        ga[1:] = gb[1:] * x[:-1].conj()  # dL/da_t = dL/dx_t * x_{t-1}; x_0 = 0 before step 1
        return ga.transpose(0, 1), gb.transpose(0, 1)


def fused_scan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """x_t = a_t x_{t-1} + b_t for every t (fold an initial state into b_1): a, b [B, T, N] of one dtype."""
    a, b = torch.broadcast_tensors(a, b)
    return _FusedScan.apply(a, b)


def doubling_scan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The same by Hillis-Steele doubling: after the pass with offset d each position holds its last 2d steps."""
    t, step = a.shape[1], 1
    while step < t:
        b = torch.cat([b[:, :step], a[:, step:] * b[:, :-step] + b[:, step:]], dim=1)
        a = torch.cat([a[:, :step], a[:, step:] * a[:, :-step]], dim=1)
        step *= 2
    return b


def step_scan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The same one autograd step at a time (x_0 = 0): T steps in the graph, each saved for the backward."""
    x, outs = torch.zeros_like(b[:, 0]), []
    for a_t, b_t in zip(a.unbind(1), b.unbind(1), strict=True):  # unbind: one backward for all the slices
        x = a_t * x + b_t
        outs.append(x)
    return torch.stack(outs, dim=1)
