"""Gradient diagnostics (norms, clip rate, non-finite steps, temporal profile and reach) and the probe tasks."""

import json
import math

import pytest
import torch
from torch import nn

from bench import models, tasks
from bench.cli import main
from bench.config import parse_clip
from bench.diagnostics import GradientDiagnostics, reach, temporal_profile
from bench.tasks.probes import PROBES as DECLARED
from bench.tasks.probes import adding, copy_memory

PROBES = tasks.get("probes")


def test_adding_targets_and_baseline():
    x, y = adding(2000, 50, seed=3)
    assert x.shape == (2000, 50, 2) and y.shape == (2000,)
    marks = x[..., 1]
    assert torch.all(marks.sum(1) == 2) and torch.all(marks[:, :25].sum(1) == 1)  # one marker per half
    torch.testing.assert_close(y, (x[..., 0] * marks).sum(1))
    torch.testing.assert_close(adding(2000, 50, seed=3)[1], y)  # deterministic from the seed
    assert not torch.equal(adding(2000, 50, seed=4)[1], y)
    assert DECLARED["adding"].trivial_loss(50) == pytest.approx(0.1667, abs=1e-4)
    assert PROBES.loss(torch.ones(2000), y).item() == pytest.approx(1 / 6, abs=0.01)  # always predicting 1


def test_copy_layout_and_baseline():
    t = 30
    x, y = copy_memory(500, t, seed=1)
    assert x.shape == (500, t + 20, 10) and y.shape == (500, t + 20)
    tokens = x.argmax(-1)
    assert torch.all((tokens[:, :10] >= 1) & (tokens[:, :10] <= 8)) and torch.all(tokens[:, t + 9] == 9)
    assert torch.all(tokens[:, 10 : t + 9] == 0) and torch.all(tokens[:, t + 10 :] == 0)
    assert torch.equal(y[:, -10:], tokens[:, :10]) and torch.all(y[:, :-10] == 0)
    # the trivial strategy: certain blanks, then a uniform guess among the 8 symbols
    logits = torch.full((500, t + 20, 10), -1e9)
    logits[:, :-10, 0] = 0.0
    logits[:, -10:, 1:9] = 0.0
    assert PROBES.loss(logits, y).item() == pytest.approx(DECLARED["copy"].trivial_loss(t), rel=1e-5)
    assert DECLARED["copy"].trivial_loss(t) == pytest.approx(10 * math.log(8) / 50)


def test_reach_of_a_linear_rnn_with_known_decay():
    a, steps = 0.5, 12

    def loss_fn(feats):  # h_t = a h_{t-1} + x_t; the loss reads h_T, so d loss / d x_t = a^(T-1-t)
        h = torch.zeros(feats.shape[0], feats.shape[2])
        for t in range(feats.shape[1]):
            h = a * h + feats[:, t]
        return h.sum()

    profile = temporal_profile(loss_fn, torch.randn(4, steps, 3))
    expected = [math.sqrt(3) * a ** (steps - 1 - t) for t in range(steps)]
    assert profile == pytest.approx(expected, rel=1e-5)
    assert reach(profile) == pytest.approx((steps - 1) * math.log10(a), rel=1e-5)


def test_norms_clip_decision_and_nonfinite_steps():
    model = nn.Module()
    model.encoder = models.build("rnn", 2, 3)  # its groups are the ones it declares
    model.rnn = model.encoder.rnn
    diag = GradientDiagnostics(parse_clip("norm:1.0"))
    for scale in (0.01, 0.01, 0.01, 10.0, math.inf):
        for p in model.parameters():
            p.grad = torch.full_like(p, scale)
        diag.on_before_optimizer_step(None, model, None)
    s = diag.summary()
    assert diag.norms[0] == pytest.approx(0.01 * math.sqrt(sum(p.numel() for p in model.parameters())))
    assert diag.hh[0] == pytest.approx(0.01 * 3) and diag.ih[0] == pytest.approx(0.01 * math.sqrt(6))
    assert s["grad/nonfinite_steps"] == 1 and s["grad/norm_max"] == pytest.approx(diag.norms[3])
    assert diag.clipped == 2  # 10.0 and inf exceed the limit; 0.01 does not
    assert s["grad/spikes"] == 1  # the 10.0 step is over 10x the median finite norm
    value = GradientDiagnostics(parse_clip("value:0.5"))
    value.on_before_optimizer_step(None, model, None)
    model.rnn.weight_hh_l0.grad.fill_(math.inf)  # one group non-finite: the other keeps its norm
    model.rnn.weight_ih_l0.grad.fill_(1.0)
    value.on_before_optimizer_step(None, model, None)
    assert value.clipped == 2 and value.ih[1] == pytest.approx(math.sqrt(6))
    assert value.hh[1] == math.inf and value.norms[1] == math.inf


def test_a_model_that_declares_no_groups_gets_no_group_norms_not_zeros():
    model = nn.Module()
    model.encoder = models.Encoder()
    model.encoder.w = nn.Parameter(torch.ones(3))
    diag = GradientDiagnostics(parse_clip("none"))
    model.encoder.w.grad = torch.ones(3)
    diag.on_before_optimizer_step(None, model, None)
    s = diag.summary()
    assert s["grad/norm_median"] == pytest.approx(math.sqrt(3))
    assert math.isnan(s["grad/ih_norm_median"]) and math.isnan(s["grad/hh_norm_median"])


def test_copy_task_trains_and_records_recall_accuracy(tmp_path, capsys):
    args = [
        "run",
        "--task",
        "probes",
        "--dataset",
        "copy",
        "--seq-len",
        "10",
        "--n-train",
        "256",
        "--n-eval",
        "64",
        "--max-epochs",
        "1",
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 0
    rec = json.loads(open(capsys.readouterr().out.strip().splitlines()[-1].removeprefix("record: ")).read())
    assert rec["status"] == "ok" and 0 <= rec["metrics"]["test/acc"] <= 1
    assert rec["baselines"]["trivial"]["test/loss"] == pytest.approx(10 * math.log(8) / 30)
    assert len(rec["grad_profile"]) == 30


@pytest.mark.parametrize(("clip", "rate"), [("norm:1e-6", 1.0), ("norm:1e6", 0.0), ("none", 0.0)])
def test_clip_rate_in_a_real_run(tmp_path, capsys, clip, rate):
    args = [
        "run",
        "--task",
        "probes",
        "--seq-len",
        "20",
        "--n-train",
        "256",
        "--n-eval",
        "64",
        "--max-epochs",
        "2",
        "--clip",
        clip,
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 0
    path = capsys.readouterr().out.strip().splitlines()[-1].removeprefix("record: ")
    rec = json.loads(open(path).read())
    g = rec["grad_summary"]
    assert g["grad/clip_rate"] == rate and g["grad/nonfinite_steps"] == 0 and rec["steps"] == 8
    assert g["grad/norm_median"] <= g["grad/norm_p99"] <= g["grad/norm_max"]
    assert len(rec["grad_profile"]) == 20 and all(p >= 0 for p in rec["grad_profile"])
    assert g["grad/reach"] == pytest.approx(reach(rec["grad_profile"]))
    assert [h["grad/reach"] is not None for h in rec["history"]] == [True, True]
    assert rec["grad_profile_png"].endswith("grad_profile.png") and open(rec["grad_profile_png"], "rb").read(
        4
    )
    assert rec["baselines"]["trivial"]["test/loss"] == pytest.approx(1 / 6)


@pytest.mark.parametrize("task_name", tasks.names())
def test_the_probe_differentiates_the_loss_that_is_trained(task_name):
    """The temporal profile's loss is the training loss at the last step, output step included: forecasting's
    default input normalization (norm=last) subtracts each window's last value and its output adds it back."""
    from bench.base.batching import TensorDataModule
    from bench.config import resolve
    from bench.diagnostics import probe_loss
    from bench.module import SeqModule

    task = tasks.get(task_name)
    cfg = resolve({"task": task_name, "dataset": task.offline_dataset, "hidden_size": 8, "batch_size": 4})
    dm = TensorDataModule(task, cfg)
    dm.prepare_data()
    dm.setup()
    module = SeqModule(cfg, task, dm.info).eval()
    batch = next(iter(dm.val_dataloader()))
    x, y = batch["x"][:4], batch["y"][:4]
    if (lengths := batch.get("lengths")) is not None:
        x = x[:, : int(lengths[:4].min())]
    trained = task.final_loss(module(x)[0], y)
    assert torch.allclose(probe_loss(module, module.input_layer(x), x, y), trained)
    if task_name == "forecast":
        assert (
            module.output is not None
        )  # the case that differed: without the output step the loss is another
        pred, _ = module.from_features(module.input_layer(x), x)
        unshifted = module.head(module.encoder(module.input_layer(x))[0], None)
        assert not torch.allclose(task.final_loss(unshifted, y), trained) and pred.shape == unshifted.shape
