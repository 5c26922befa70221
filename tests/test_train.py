"""Every task x model trains on its offline dataset; the runner's records for ok, diverged and failed runs."""

import json
import math
from pathlib import Path

import pytest
import torch

from bench import hardware, models, tasks
from bench.base.batching import TensorDataModule
from bench.cli import main
from bench.config import resolve
from bench.module import SeqModule

CELLS = [(t, m) for t in tasks.names() for m in models.names()]


@pytest.mark.parametrize(("task_name", "model"), CELLS)
def test_few_steps_shapes_gradients_and_learning(task_name, model):
    task = tasks.get(task_name)
    cfg = resolve(
        {
            "task": task_name,
            "dataset": task.offline_dataset,
            "model": model,
            "hidden_size": 32,
            "batch_size": 16,
            "num_layers": 2,
            "dropout": 0.1,
        }
    )
    dm = TensorDataModule(task, cfg)
    dm.prepare_data()
    dm.setup()
    torch.manual_seed(0)
    module = SeqModule(cfg, task, dm.info)
    batch = next(iter(dm.train_dataloader()))
    pred, _ = module(batch["x"], batch.get("lengths"))
    assert pred.shape[0] == batch["y"].shape[0] and torch.isfinite(pred).all()
    opt = torch.optim.Adam(module.parameters(), lr=1e-2)
    losses = []
    for step in range(8):  # fit one batch: the loss must fall
        opt.zero_grad()
        loss = task.loss(module(batch["x"], batch.get("lengths"))[0], batch["y"])
        loss.backward()
        if step == 0:
            for name, p in module.named_parameters():
                assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reaches {name}"
        opt.step()
        losses.append(loss.item())
    assert all(map(torch.isfinite, torch.tensor(losses))) and losses[-1] < 0.8 * losses[0]


def run_cli(args, capsys):
    code = main(["run", *args])
    out, err = capsys.readouterr()
    return code, out.strip().splitlines(), err.strip().splitlines()


def test_run_writes_record_checkpoint_and_prints_record_last(tmp_path, capsys):
    code, out, err = run_cli(
        [
            "--dataset",
            "dtmf",
            "--max-epochs",
            "2",
            "--hidden-size",
            "16",
            "--train-limit",
            "64",
            "--clip",
            "norm:1.0",
            "--out",
            str(tmp_path / "runs"),
        ],
        capsys,
    )
    assert code == 0
    path = out[-1].removeprefix("record: ")
    assert out[-1].startswith("record: ") and path.endswith(".json")
    rec = json.loads(open(path).read())
    assert rec["status"] == "ok" and rec["reason"] == ""
    for key in (
        "task",
        "dataset",
        "model",
        "clip",
        "seed",
        "config",
        "metrics",
        "primary_metric",
        "higher_is_better",
        "epochs",
        "wall_time_s",
        "steps_per_s",
        "params",
        "env",
        "best_epoch",
        "history",
    ):
        assert key in rec, key
    assert (rec["dataset"], rec["clip"], rec["epochs"], rec["primary_metric"]) == (
        "dtmf",
        "norm:1.0",
        2,
        "acc",
    )
    assert {"val/acc", "val/f1", "val/loss", "test/acc", "test/f1", "test/loss"} <= set(rec["metrics"])
    assert (
        0 <= rec["metrics"]["test/acc"] <= 1 and rec["steps_per_s"] > 0 and rec["steps"] == 2 * 2
    )  # 64 clips, batches of 32, 2 epochs
    assert sum(map(sum, rec["matrices"]["test/confusion"])) == 200  # every test clip counted once
    assert rec["config"]["options"]["train_limit"] == 64 and rec["env"]["torch"] == torch.__version__
    assert (tmp_path / "runs" / path.split("/")[-1].removesuffix(".json") / "best.ckpt").is_file()
    assert rec["params"] == sum(p.numel() for p in models.build("lstm", 20, 16).parameters()) + 16 * 10 + 10
    assert out[-2] == f"checkpoint: {rec['checkpoint']}" and Path(rec["checkpoint"]).is_file()
    why = rec["env"]["cpu_threads_why"]  # no --threads: the count was timed, and the record says so
    cores = hardware.usable_cores()[0]
    assert why.startswith(f"auto: {rec['env']['cpu_threads']} of {cores} usable cores") or cores == 1, why
    assert rec["env"]["malloc"] == hardware.keep_freed_memory()  # what the run did to the allocator, recorded


def test_a_relative_out_prints_and_records_the_published_checkpoint(tmp_path, capsys, monkeypatch):
    """Lightning resolves the work folder to an absolute path; the record and the printed line still name the
    checkpoint where it is once the run finished, not the work folder that no longer exists."""
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(
        ["--dataset", "dtmf", "--max-epochs", "1", "--hidden-size", "8", "--out", "runs"], capsys
    )
    rec = json.loads(Path(out[-1].removeprefix("record: ")).read_text())
    assert code == 0 and out[-2] == f"checkpoint: {rec['checkpoint']}"
    assert Path(rec["checkpoint"]).is_file() and ".partial" not in rec["checkpoint"]
    assert rec["checkpoint"] == str((tmp_path / Path(out[-1][8:]).with_suffix("") / "best.ckpt").resolve())


def poison_loss(monkeypatch, call: int = 3) -> None:
    """The speech task's training loss turns NaN at its `call`-th evaluation (step call - 1)."""
    task = tasks.get("speech")
    real_loss, calls = task.loss, []

    def poisoned(pred, y):
        calls.append(1)
        return real_loss(pred, y) * (float("nan") if len(calls) == call else 1.0)

    monkeypatch.setattr(type(task), "loss", lambda self, pred, y: poisoned(pred, y))


def test_diverged_run_is_recorded_with_its_step(tmp_path, capsys, monkeypatch):
    poison_loss(monkeypatch)
    code, out, _ = run_cli(
        [
            "--dataset",
            "dtmf",
            "--max-epochs",
            "1",
            "--hidden-size",
            "8",
            "--train-limit",
            "128",
            "--out",
            str(tmp_path),
        ],
        capsys,
    )
    rec = json.loads(open(out[-1].removeprefix("record: ")).read())
    assert code == 0 and rec["status"] == "diverged" and rec["diverged_step"] == 2
    assert "non-finite training loss (nan) at step 2" in rec["reason"]


def test_failed_run_exits_nonzero_with_a_record(tmp_path, capsys, monkeypatch):
    def broken(cfg):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(tasks.REGISTRY["speech"], "load", lambda self, cfg: broken(cfg))
    code, out, err = run_cli(["--dataset", "dtmf", "--out", str(tmp_path)], capsys)
    rec = json.loads(open(out[-1].removeprefix("record: ")).read())
    assert code == 1 and rec["status"] == "failed" and rec["reason"] == "RuntimeError: disk on fire"
    assert "Traceback" in rec["traceback"] and err == ["error: RuntimeError: disk on fire"]
    assert out[0] == "status: failed"  # the reason once, on stderr


def test_baselines_by_hand():
    """Chance for classification (the training split's majority class), scored as the model is; the unigram
    language model of the training split."""
    from types import SimpleNamespace

    from bench.tasks.metrics import classification_metrics

    y_train, y_test = torch.tensor([0, 0, 1]), torch.tensor([0, 1, 1, 2])
    dm = SimpleNamespace(splits={"train": {"y": y_train}, "test": {"y": y_test}}, info={"num_classes": 3})
    got = tasks.get("speech").baselines(dm, None)["chance"]
    want = classification_metrics(3)(
        torch.nn.functional.one_hot(torch.zeros(4, dtype=torch.long), 3).float(), y_test
    )
    assert got["test/acc"] == pytest.approx(want["acc"].item()) == 0.25
    assert got["test/f1"] == pytest.approx(want["f1"].item())
    ids = {"train": {"ids": torch.tensor([1, 1, 1, 2])}, "test": {"ids": torch.tensor([2, 1, 2])}}
    lm = SimpleNamespace(splits=ids, info={"vocab_size": 3, "level": "char"})
    got = tasks.get("lm").baselines(lm, None)["unigram"]  # add-one counts 1, 4, 2 of 7; test predicts 1, 2
    nats = -(math.log(4 / 7) + math.log(2 / 7)) / 2
    assert got["test/loss"] == pytest.approx(nats) and got["test/ppl"] == pytest.approx(math.exp(nats))
    assert got["test/bpc"] == pytest.approx(nats / math.log(2))


def test_a_run_repeats_exactly_with_or_without_the_nan_fill(tmp_path, monkeypatch):
    """Seeded runs with a fixed thread count repeat to the last bit on one machine (what `bench reproduce`
    relies on), with dropout drawing random numbers. The first run fills every new tensor with NaN, as
    deterministic mode does by default; the second runs as bench does, without the fill: equal results show
    that no op reads memory it did not write."""
    import bench.runner

    make = bench.runner.make_trainer
    flags = torch.utils.deterministic
    monkeypatch.setattr(flags, "fill_uninitialized_memory", flags.fill_uninitialized_memory)  # restored after
    records = []
    for fill in (True, False):

        def with_fill(*args, fill=fill, **kwargs):
            trainer = make(*args, **kwargs)
            flags.fill_uninitialized_memory = fill
            return trainer

        monkeypatch.setattr(bench.runner, "make_trainer", with_fill)
        cfg = resolve(
            {
                "task": "lm",
                "dataset": tasks.get("lm").offline_dataset,
                "max_epochs": 2,
                "hidden_size": 16,
                "num_layers": 2,
                "dropout": 0.2,
                "train_tokens": 20000,
                "threads": 1,
                "out": str(tmp_path / str(fill)),
            }
        )
        record, _ = bench.runner.run(cfg)
        assert record.status == "ok", record.reason
        records.append(record)
    a, b = records
    assert a.history and a.grad_summary
    assert (a.metrics, a.history, a.grad_summary) == (b.metrics, b.history, b.grad_summary)
