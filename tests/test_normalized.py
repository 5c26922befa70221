"""Normalized recurrent cells: the plain scripted loop is nn.RNN/LSTM/GRU, the norms are the papers' formulas,
variable lengths, carried state and gradient checkpointing behave as for the fused cells."""

import json
import re

import pytest
import torch
from torch.nn import functional as F

from bench import models
from bench.base.errors import BenchError
from bench.cli import main
from bench.config import resolve
from bench.models.normalized import BN_MAX_STEPS, ScriptedRecurrent

CELLS = ["rnn", "lstm", "gru"]
NORMED = [("rnn", "layer"), ("lstm", "layer"), ("gru", "layer"), ("lstm", "batch")]


def _pair(cell: str, bidirectional: bool, layers: int = 2):
    """A fused encoder and the scripted loop without normalization, holding the same weights (float64)."""
    torch.manual_seed(0)
    fused = models.build(cell, 5, 6, num_layers=layers, bidirectional=bidirectional).double()
    loop = ScriptedRecurrent(cell, 5, 6, layers, bidirectional=bidirectional, norm="none").double()
    loop.load_state_dict(fused.rnn.state_dict())  # same parameter names: a strict load
    return fused, loop


def _flat(state):
    return torch.cat([s.flatten() for s in state]) if isinstance(state, tuple) else state.flatten()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_plain_loop_reproduces_the_fused_module(cell, bidirectional, padded):
    fused, loop = _pair(cell, bidirectional)
    x = torch.randn(4, 7, 5, dtype=torch.double)
    lengths = torch.tensor([7, 2, 5, 7]) if padded else None
    dirs = 2 if bidirectional else 1
    h0 = torch.randn(2 * dirs, 4, 6, dtype=torch.double)
    state = (h0, torch.randn_like(h0)) if cell == "lstm" else h0
    results = []
    for run in (lambda a, s: fused(a, lengths, s), lambda a, s: loop(a, lengths, s)):
        xi = x.clone().requires_grad_()
        out, final = run(xi, state)
        loss = (out * torch.linspace(-1, 1, out.shape[-1], dtype=torch.double)).sum() + _flat(final).sum()
        loss.backward()
        results.append((out, _flat(final), xi.grad))
    (out_a, fin_a, gx_a), (out_b, fin_b, gx_b) = results
    tight = {"atol": 1e-12, "rtol": 1e-12}
    torch.testing.assert_close(out_b, out_a, **tight)
    torch.testing.assert_close(fin_b, fin_a, **tight)
    torch.testing.assert_close(gx_b, gx_a, **tight)
    for (name, pa), pb in zip(fused.rnn.named_parameters(), loop.parameters(), strict=True):
        torch.testing.assert_close(pb.grad, pa.grad, **tight, msg=name)


def _ln(v, gain, bias=None, eps=1e-5):
    """Layer norm written out: (v - mean) / sqrt(biased var + eps) * gain + bias, per row (Ba et al. 2016)."""
    mean = v.mean(-1, keepdim=True)
    var = ((v - mean) ** 2).mean(-1, keepdim=True)
    out = (v - mean) / torch.sqrt(var + eps) * gain
    return out if bias is None else out + bias


def _randomize(module):
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.5 + (1 if p.dim() == 1 else 0))


@pytest.mark.parametrize("cell", CELLS)
def test_layer_norm_cells_follow_ba_et_al(cell):
    m = ScriptedRecurrent(cell, 3, 4, norm="layer").double()
    _randomize(m)  # gains and biases away from 1 and 0, so each one's place is checked
    x = torch.randn(2, 3, 3, dtype=torch.double)
    out, _ = m(x)
    w_ih, w_hh, b_ih, b_hh = m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0
    n = m.norms["l0"]
    h = torch.zeros(2, 4, dtype=torch.double)
    c = torch.zeros_like(h)
    for t in range(3):
        a, r = _ln(x[:, t] @ w_ih.T, n.gx), _ln(h @ w_hh.T, n.gh)
        if cell == "rnn":
            h = torch.tanh(a + r + b_ih + b_hh)
        elif cell == "lstm":
            i, f, g, o = (a + r + b_ih + b_hh).chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # carried unnormalized
            h = torch.sigmoid(o) * torch.tanh(_ln(c, n.gc, n.bc))
        else:
            (xr, xz, xn), (hr, hz, hn) = (a + b_ih).chunk(3, 1), (r + b_hh).chunk(3, 1)
            rr, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            h = (1 - z) * torch.tanh(xn + rr * hn) + z * h
        torch.testing.assert_close(out[:, t], h, atol=1e-10, rtol=1e-10)


def test_batch_norm_lstm_follows_cooijmans_et_al():
    m = ScriptedRecurrent("lstm", 3, 4, norm="batch")
    n = m.norms["l0"]
    assert all(torch.all(g == torch.tensor(0.1)) for g in (n.gx, n.gh, n.gc))  # gamma initialised at 0.1
    m = m.double()
    _randomize(m)
    x = torch.randn(5, 3, 3, dtype=torch.double)

    def bn(v, gain, mean=None, var=None):
        mean = v.mean(0) if mean is None else mean
        var = v.var(0, unbiased=False) if var is None else var
        return (v - mean) / torch.sqrt(var + 1e-5) * gain, mean, var

    out, _ = m.train()(x)
    h = torch.zeros(5, 4, dtype=torch.double)
    c = torch.zeros_like(h)
    b = m.bias_ih_l0 + m.bias_hh_l0
    for t in range(3):  # statistics of the batch at each step
        a, mx, _ = bn(x[:, t] @ m.weight_ih_l0.T, n.gx)
        r, _, _ = bn(h @ m.weight_hh_l0.T, n.gh)
        i, f, g, o = (a + r + b).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(bn(c, n.gc)[0] + n.bc)
        torch.testing.assert_close(out[:, t], h, atol=1e-10, rtol=1e-10)
        torch.testing.assert_close(n.mean_x[t], 0.1 * mx.detach())  # a running slot per step
    assert torch.all(n.mean_x[3:] == 0) and torch.all(n.var_x[3:] == 1)
    # evaluation: steps past T_max use the last slot's statistics
    with torch.no_grad():
        n.mean_x[-1] = 5.0
    long = torch.randn(2, BN_MAX_STEPS + 3, 3, dtype=torch.double)
    first, _ = m.eval()(long[:, : BN_MAX_STEPS - 1])
    whole, _ = m(long)
    torch.testing.assert_close(whole[:, : BN_MAX_STEPS - 1], first)
    gx = (long @ m.weight_ih_l0.T).transpose(0, 1)  # [T, B, 4H]
    expected = (gx[-1] - 5.0) / torch.sqrt(n.var_x[-1] + 1e-5) * n.gx
    torch.testing.assert_close(n.inputs(gx, None)[-1], expected)


@pytest.mark.parametrize(("cell", "norm"), NORMED)
def test_padding_never_enters_and_state_carries(cell, norm):
    torch.manual_seed(0)
    enc = models.build(cell, 5, 7, num_layers=2, bidirectional=norm == "layer", norm_layer=norm).eval()
    x = torch.randn(3, 6, 5)
    lengths = torch.tensor([6, 2, 4])
    out, state = enc(x, lengths)
    assert torch.all(out[1, 2:] == 0) and torch.all(out[2, 4:] == 0)
    alone, alone_state = enc(x[1:2, :2])
    torch.testing.assert_close(alone[0], out[1, :2])
    h = state[0] if cell == "lstm" else state
    torch.testing.assert_close((alone_state[0] if cell == "lstm" else alone_state)[:, 0], h[:, 1])
    if norm == "layer":
        return  # carried state is for the unidirectional case below
    first, carried = enc(x[:, :4])
    second, _ = enc(x[:, 4:], None, carried)
    whole, _ = enc(x)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)


@pytest.mark.parametrize(("cell", "norm"), NORMED)
def test_every_parameter_of_a_normalized_cell_gets_a_gradient(cell, norm):
    enc = models.build(cell, 4, 8, num_layers=2, dropout=0.1, norm_layer=norm)
    out, _ = enc(torch.randn(3, 5, 4), torch.tensor([5, 3, 4]))
    out.pow(2).sum().backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("norm", ["none", "layer"])
@pytest.mark.parametrize("use_lengths", [False, True])
def test_checkpoint_segments_give_the_same_outputs_and_gradients(norm, use_lengths):
    torch.manual_seed(0)
    plain = models.build("lstm", 4, 6, num_layers=2, norm_layer=norm).double()
    ckpt = models.build("lstm", 4, 6, num_layers=2, norm_layer=norm, checkpoint_segments=3).double()
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(3, 11, 4, dtype=torch.double)
    lengths = torch.tensor([11, 3, 8]) if use_lengths else None
    grads = []
    for enc in (plain, ckpt):
        out, (h, c) = enc(x, lengths)
        (out.sum() + h.sum() + c.sum()).backward()
        grads.append((out.detach(), h.detach(), [p.grad for p in enc.parameters()]))
    torch.testing.assert_close(grads[1][0], grads[0][0])
    torch.testing.assert_close(grads[1][1], grads[0][1])
    for a, b in zip(grads[0][2], grads[1][2], strict=True):
        torch.testing.assert_close(b, a)


def test_layer_norm_statistics_are_zero_mean_unit_variance():
    from bench.models.loops import layer_norm

    v = torch.randn(5, 12) * 3 + 2
    y = layer_norm(v, torch.ones(12))
    torch.testing.assert_close(y.mean(-1), torch.zeros(5), atol=1e-6, rtol=0)
    torch.testing.assert_close(y.var(-1, unbiased=False), torch.ones(5), atol=1e-4, rtol=0)
    assert F.mse_loss(y, _ln(v, torch.ones(12))) < 1e-12


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"norm_layer": "group"}, "unknown norm_layer 'group'; valid: none, layer, batch"),
        (
            {"model": "gru", "norm_layer": "batch"},
            "is defined for the lstm, not 'gru'; use --norm-layer layer",
        ),
        ({"checkpoint_segments": 4, "bidirectional": True}, "checkpoint_segments 4 needs a unidirectional"),
        ({"checkpoint_segments": -1}, "'checkpoint_segments' must not be negative, got -1"),
    ],
)
def test_bad_normalization_settings_are_named(override, message):
    with pytest.raises(BenchError, match=re.escape(message)):
        resolve(override)


def test_a_layer_normalized_checkpointed_run_trains(tmp_path, capsys):
    args = [
        "run",
        "--task",
        "probes",
        "--seq-len",
        "12",
        "--n-train",
        "256",
        "--n-eval",
        "64",
        "--threads",
        "1",
    ]
    args += ["--model", "gru", "--norm-layer", "layer", "--checkpoint-segments", "3", "--out", str(tmp_path)]
    assert main([*args, "--max-epochs", "2"]) == 0
    rec = json.loads(open(capsys.readouterr().out.strip().splitlines()[-1].removeprefix("record: ")).read())
    assert rec["status"] == "ok" and rec["config"]["norm_layer"] == "layer"
    assert rec["history"][-1]["train/loss"] < rec["history"][0]["train/loss"]


def test_normalization_and_optimizer_are_suite_axes(tmp_path):
    from bench.suites import load_suite

    suite = load_suite("normalize")
    assert {c.cfg.norm_layer for c in suite.cells} == {"none", "layer"}
    for cell in suite.cells:
        assert f"norm_layer={cell.cfg.norm_layer}" in cell.row
    spec = tmp_path / "recipe.yaml"
    spec.write_text(
        "models: [lstm]\ntasks:\n  probes:\n    optimizer: [adam, sgd]\n    norm_layer: [none, batch]\n"
    )
    rows = load_suite(str(spec)).rows()
    assert rows == [
        f"probes/adding optimizer={o} norm_layer={n}" for o in ("adam", "sgd") for n in ("none", "batch")
    ]


@pytest.mark.slow
def test_ddp_with_layer_norm_matches_a_single_process(tmp_path):
    from tests.test_ddp import run

    extra = ["--norm-layer", "layer", "--model", "gru"]
    single, _ = run("probes", 1, tmp_path / "single", extra)
    ddp, records = run("probes", 2, tmp_path / "ddp", extra)
    assert len(records) == 1 and ddp["status"] == "ok" and ddp["config"]["norm_layer"] == "layer"
    assert ddp["steps"] == single["steps"]
    assert ddp["metrics"]["test/loss"] == pytest.approx(single["metrics"]["test/loss"], rel=1e-4)
