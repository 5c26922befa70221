"""The scan families compute one function on their three paths (fused for training, the parallel scan, and one
step at a time), in fp32 and bf16, with padding and a carried state, and the fused scan's hand-written backward
is the true gradient; the Transformer is causal."""

import pytest
import torch

from bench import models
from bench.models.minimal import log_scan
from bench.models.scan import doubling_scan, fused_scan, step_scan

SCANNED = [n for n in models.names() if hasattr(type(models.build(n, 2, 4)), "scan")]
PATHS = ("fused", "parallel", "steps")


def test_the_scans_solve_the_recurrence():
    torch.manual_seed(0)
    a, b = torch.rand(2, 37, 3), torch.rand(2, 37, 3)
    h, want = torch.zeros(2, 3), []
    for t in range(37):
        h = a[:, t] * h + b[:, t]
        want.append(h)
    want = torch.stack(want, 1)
    for scan in (fused_scan, doubling_scan, step_scan):
        torch.testing.assert_close(scan(a, b), want)
    torch.testing.assert_close(log_scan(a.log(), b.log(), None), want, rtol=1e-5, atol=1e-6)
    h0 = torch.rand(2, 3)
    with_h0 = log_scan(a.log(), b.log(), h0)
    torch.testing.assert_close(with_h0[:, 0], a[:, 0] * h0 + b[:, 0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_the_fused_scans_backward_is_the_gradient(dtype):
    torch.manual_seed(0)
    a = (0.95 * torch.rand(2, 11, 3, dtype=dtype)).requires_grad_()
    b = torch.randn(2, 11, 3, dtype=dtype).requires_grad_()
    assert torch.autograd.gradcheck(fused_scan, (a, b))
    lam = torch.tensor([0.5, 0.9, 0.99], dtype=dtype, requires_grad=True)  # broadcast, as the LRU's lambda
    assert torch.autograd.gradcheck(lambda lam, b: fused_scan(lam.expand_as(b), b), (lam, b))


def test_the_families_with_a_scan():
    assert SCANNED == ["lru", "mingru", "minlstm"]


@pytest.mark.parametrize("name", SCANNED)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_three_paths_agree(name, dtype):
    torch.manual_seed(0)
    enc = models.build(name, 5, 8, num_layers=2).eval()
    x, lengths = torch.randn(3, 50, 5), torch.tensor([50, 17, 33])
    outs, grads = {}, {}
    for path in PATHS:
        enc.scan = path
        enc.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            first, state = enc(x[:, :30], lengths.clamp(max=30))  # a chunk, then the next with its state
            second, final = enc(x[:, 30:], (lengths - 30).clamp(min=0), state)
        outs[path] = (torch.cat([first, second], 1).float(), final)
        outs[path][0].pow(2).mean().backward()
        grads[path] = [p.grad.clone() for p in enc.parameters() if p.grad is not None]
    tol = {"rtol": 1e-4, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 3e-2, "atol": 3e-2}
    for path in PATHS[:2]:
        for row, n in enumerate(lengths.tolist()):
            torch.testing.assert_close(outs[path][0][row, :n], outs["steps"][0][row, :n], **tol)
        torch.testing.assert_close(outs[path][1], outs["steps"][1], **tol)
        assert len(grads[path]) == len(grads["steps"]) > 0
        if dtype == torch.float32:
            for got, want in zip(grads[path], grads["steps"], strict=True):
                torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-5)
    enc.scan = "fused"
    whole, _ = enc(x, lengths)  # the chunks carried their state: the same as one pass over the whole
    if dtype == torch.float32:
        for row, n in enumerate(lengths.tolist()):
            torch.testing.assert_close(whole[row, :n], outs["fused"][0][row, :n], rtol=1e-4, atol=1e-5)


def test_the_transformer_is_causal_and_carries_no_state():
    torch.manual_seed(0)
    enc = models.build("transformer", 5, 64, num_layers=2).eval()
    x = torch.randn(2, 12, 5)
    out, state = enc(x)
    changed = x.clone()
    changed[:, 7:] += 1.0
    out2, _ = enc(changed)
    assert state is None and out.shape == (2, 12, 64)
    torch.testing.assert_close(out[:, :7], out2[:, :7])
    assert not torch.allclose(out[:, 7:], out2[:, 7:])
