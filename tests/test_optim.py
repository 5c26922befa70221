"""Optimizer and schedule registries: defaults keep the old recipe and hashes, warm-up and cosine shape the lr."""

import json
import re

import pytest
import torch
from torch.optim.lr_scheduler import ReduceLROnPlateau

from bench import optim
from bench.base.errors import BenchError
from bench.cli import main
from bench.config import RunConfig, config_hash, resolve


def test_default_hashes_are_unchanged_by_the_new_fields():
    # Computed on main before the optimizer, schedule and warm-up fields existed: records and resumable
    # sweeps of earlier configs keep their file names.
    assert config_hash(RunConfig()) == "d681f6fe0ddd"
    # The probes' own default changed since (a 15-epoch budget, no 6-minute cap: commit 7d0fa0c), so their
    # hash is the one with that budget; the new optimizer fields at their defaults still leave it alone.
    assert config_hash(resolve({"task": "probes"})) == "3126a27387c2"
    assert config_hash(resolve({"task": "probes", "optimizer": "adam", "warmup_steps": 0})) == "3126a27387c2"
    assert config_hash(resolve({"task": "probes", "optimizer": "sgd"})) != "3126a27387c2"
    assert config_hash(resolve({"task": "probes", "warmup_steps": 10})) != "3126a27387c2"


def _build(**kw):
    cfg = RunConfig(**kw)
    params = [torch.nn.Parameter(torch.zeros(3))]
    return optim.build(cfg, params, "val/loss", "min", total_steps=lambda: 100)


def test_default_is_adam_with_the_plateau_halving():
    out = _build(lr=0.01, weight_decay=0.1)
    opt, sched = out["optimizer"], out["lr_scheduler"]
    assert type(opt) is torch.optim.Adam and opt.defaults["weight_decay"] == 0.1
    assert isinstance(sched["scheduler"], ReduceLROnPlateau) and sched["monitor"] == "val/loss"
    assert sched["scheduler"].factor == 0.5 and sched["scheduler"].patience == 3


def test_sgd_momentum_and_no_schedule():
    out = _build(optimizer="sgd", lr=20.0, momentum=0.9, schedule="none")
    assert type(out["optimizer"]) is torch.optim.SGD and out["optimizer"].defaults["momentum"] == 0.9
    assert "lr_scheduler" not in out
    assert type(_build(optimizer="adamw", schedule="none")["optimizer"]) is torch.optim.AdamW


def test_warmup_ramps_then_leaves_plateau_reductions_alone():
    opts, (plateau, warm) = _build(lr=1.0, warmup_steps=4)
    opt = opts[0]
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        warm["scheduler"].step()
    assert lrs == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    for _ in range(5):  # five flat epochs: the plateau halves the lr, and later warm-up steps keep it
        plateau["scheduler"].step(1.0)
    warm["scheduler"].step()
    assert opt.param_groups[0]["lr"] == 0.5


def test_cosine_warms_up_and_decays_to_zero():
    out = _build(lr=1.0, schedule="cosine", warmup_steps=10)
    opt, sched = out["optimizer"], out["lr_scheduler"]["scheduler"]
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.1) and lrs[10] == pytest.approx(1.0)
    assert lrs[55] == pytest.approx(0.5, abs=0.02) and lrs[-1] < 0.01
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'; valid: adam, adamw, sgd"),
        ({"schedule": "step"}, "unknown schedule 'step'; valid: cosine, none, plateau"),
        ({"momentum": 0.9}, "momentum 0.9 applies to --optimizer sgd only, not 'adam'"),
        ({"warmup_steps": -1}, "'warmup_steps' must not be negative, got -1"),
    ],
)
def test_bad_recipe_is_named(override, message):
    with pytest.raises(BenchError, match=re.escape(message)):
        resolve(override)


def test_sgd_cosine_run_trains_and_records_its_recipe(tmp_path, capsys):
    args = ["run", "--task", "probes", "--seq-len", "10", "--n-train", "256", "--n-eval", "64"]
    args += ["--max-epochs", "2", "--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.05"]
    args += ["--schedule", "cosine", "--warmup-steps", "3", "--threads", "1", "--out", str(tmp_path)]
    assert main(args) == 0
    path = capsys.readouterr().out.strip().splitlines()[-1].removeprefix("record: ")
    rec = json.loads(open(path).read())
    assert rec["status"] == "ok"
    assert (rec["config"]["optimizer"], rec["config"]["schedule"], rec["config"]["warmup_steps"]) == (
        "sgd",
        "cosine",
        3,
    )
