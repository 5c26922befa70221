"""Harness cost: the same LSTM language model, batches and BPTT length trained through bench and a plain loop.

Both sides run the same batches (this task's contiguous streams), the same model (SeqModule's modules, the
same initial weights), Adam and the same gradient clipping. bench runs through the runner's own Trainer
with the callbacks `bench run` attaches (throughput, the per-step gradient diagnostics, early stopping,
checkpointing), its metrics and carried state; its clock runs from the start of the training epoch to
the end of its last batch, so validation and set-up are left out on both sides. The two alternate, to share
out the noise of a busy machine; the best run of each side and the median ratio within a round are reported.
On a GPU both sides keep the token streams on the device (as pytorch/examples does) and the clocks wait for
the device at the end of the epoch. The last line is `ratio bench/plain R` (best of each side).

With --profile DIR, one more run of each side (30 steps) goes under torch.profiler and cProfile over exactly
its timed region. It prints, per step, the host time, the Python calls, the ops, the NaN fills and the kernel
launches, every synchronising call (a step that waits for the device cannot queue the next one), and how busy
the device was. The traces go to DIR.

run: BENCH_DATA=../shared/data python benchmarks/lm_speed.py --steps 40 --repeats 3 --hidden-size 32
"""

import argparse
import cProfile
import dataclasses
import pstats
import statistics
import tempfile
import time
import types
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from bench import tasks
from bench.base.batching import TensorDataModule
from bench.config import resolve
from bench.diagnostics import GradientDiagnostics
from bench.module import SeqModule, detach_state
from bench.runner import Throughput, make_trainer


class Window:
    """The timed region of a side: a clock that waits for the device at its end, and profilers if given
    (anything with start() and stop())."""

    def __init__(self, *profilers):
        self.profilers, self.seconds = profilers, 0.0

    def start(self) -> None:
        for p in self.profilers:
            p.start()
        self.t = time.perf_counter()

    def stop(self, device: torch.device) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        self.seconds = time.perf_counter() - self.t
        for p in reversed(self.profilers):
            p.stop()


class EpochClock(Callback):
    """The window from the start of the training epoch to the end of its last batch."""

    def __init__(self, window: Window):
        self.window = window

    def on_train_epoch_start(self, trainer, module):
        self.window.start()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if batch_idx == trainer.num_training_batches - 1:
            self.window.stop(module.device)


def data_module(cfg, steps: int) -> TensorDataModule:
    """The task's splits, the training stream cut so one epoch is `steps` batches; a one-batch validation."""
    task = tasks.get("lm")
    dm = TensorDataModule(task, cfg)
    dm.prepare_data()
    dm.setup()
    tokens = cfg.batch_size * cfg.options.bptt * steps + 1
    dm.splits["train"] = {"ids": dm.splits["train"]["ids"][:tokens]}
    dm.splits["val"] = {"ids": dm.splits["val"]["ids"][: cfg.batch_size * (cfg.options.bptt + 1) + 1]}
    return dm


def bench_seconds(cfg, dm, module, window: Window) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer(cfg, module.task, Path(tmp), [Throughput(), GradientDiagnostics(cfg.clipping)])
        trainer.callbacks.append(EpochClock(window))
        trainer.fit(module, datamodule=dm)
    return window.seconds


def plain_seconds(cfg, dm, module, window: Window) -> float:
    """The loop of pytorch/examples word_language_model, on the same modules and batches."""
    limit, algo = cfg.clipping
    # torch's default, as in a user's loop: bench's Trainer, earlier in this process, set deterministic mode
    torch.use_deterministic_algorithms(False)
    device = torch.device("cuda" if cfg.accelerator == "gpu" else "cpu")
    module.to(device)
    train = {k: v.to(device) for k, v in dm.splits["train"].items()}  # batchify(...).to(device)
    batches = dm.task.dataloader(train, cfg, True, 1, 0)
    opt = torch.optim.Adam(module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    emb, enc, head = module.input_layer, module.encoder.rnn, module.head
    module.train()
    state = None
    window.start()
    for batch in batches:
        opt.zero_grad()
        out, state = enc(emb(batch["x"]), state)  # [B, T, H]
        logits = head(out)  # [B, T, V]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch["y"].reshape(-1))
        loss.backward()
        if algo == "norm":
            torch.nn.utils.clip_grad_norm_(module.parameters(), limit)
        elif algo == "value":
            torch.nn.utils.clip_grad_value_(module.parameters(), limit)
        opt.step()
        state = detach_state(state)
    window.stop(device)
    return window.seconds


def profile_both(cfg, steps: int, out: Path) -> None:
    """One profiled run of each side: what a step costs the host and whether it waits for the device."""
    from torch.profiler import ProfilerActivity, profile

    dm = data_module(cfg, steps)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cfg.accelerator == "gpu" else [])
    out.mkdir(parents=True, exist_ok=True)
    for side, timer in SIDES:
        pl.seed_everything(cfg.seed, verbose=False)
        torch_profile, python_calls = profile(activities=activities), cProfile.Profile()
        window = Window(
            torch_profile, types.SimpleNamespace(start=python_calls.enable, stop=python_calls.disable)
        )
        seconds = timer(cfg, dm, SeqModule(cfg, dm.task, dm.info), window)
        events = torch_profile.key_averages()
        torch_profile.export_chrome_trace(str(out / f"{side}.json"))
        ops = sum(e.count for e in events if e.key.startswith("aten::"))
        top = sum(  # the ops the step's own code calls, not those an op calls inside itself
            e.name.startswith("aten::") and not (e.cpu_parent and e.cpu_parent.name.startswith("aten::"))
            for e in torch_profile.events()
        )
        fills = sum(e.count for e in events if e.key == "aten::fill_")
        device_us = sum(e.self_device_time_total for e in events)
        print(
            f"profile {side}: {seconds / steps * 1e3:.3f} ms/step under both profilers, per step "
            f"{pstats.Stats(python_calls).total_calls / steps:.0f} Python calls, {top / steps:.1f} top-level aten "
            f"ops ({ops / steps:.1f} with nested ones), {fills / steps:.1f} aten::fill_; "
            f"device busy {device_us / 1e6 / seconds:.0%}"
        )
        for e in events:  # launches, copies and every call that makes the host wait for the device
            if any(w in e.key for w in ("Launch", "Memcpy", "Synchronize", "local_scalar_dense")):
                print(f"  {e.count / steps:7.2f}/step {e.key}")
        if side == "bench":
            print(events.table(sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=60))


SIDES = (("plain", plain_seconds), ("bench", bench_seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="tiny-shakespeare", help="lm dataset (synthetic needs no data)")
    parser.add_argument("--model", default="lstm")
    parser.add_argument("--steps", type=int, default=40, help="training steps per timed run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each side, alternated")
    parser.add_argument(
        "--hidden-size", type=int, help="default: bench/configs/lm.yaml's (512); 32 is overhead-bound"
    )
    parser.add_argument("--accelerator", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--profile", type=Path, help="profile one more run of each side; traces go here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    overrides = {"hidden_size": args.hidden_size, "accelerator": args.accelerator}
    cfg = resolve({"task": "lm", "dataset": args.dataset, "model": args.model, **overrides})
    cfg = dataclasses.replace(cfg, max_epochs=1, max_minutes=0.0)
    dm = data_module(cfg, args.steps)
    tokens = args.steps * cfg.batch_size * cfg.options.bptt
    print(
        f"{cfg.model} hidden {cfg.hidden_size} x {cfg.num_layers}, batch {cfg.batch_size}, bptt "
        f"{cfg.options.bptt}, clip {cfg.clip}, {args.steps} steps = {tokens} tokens per run, "
        f"{torch.get_num_threads()} threads, {cfg.accelerator}"
        + (f" ({torch.cuda.get_device_name(0)})" if cfg.accelerator == "gpu" else "")
    )
    rates: dict[str, list[float]] = {"plain": [], "bench": []}
    for r in range(args.repeats + 1):  # round 0 warms both paths up and is not counted
        for side, timer in SIDES:
            pl.seed_everything(cfg.seed, verbose=False)
            module = SeqModule(cfg, dm.task, dm.info)
            seconds = timer(cfg, dm, module, Window())
            if r:
                rates[side].append(tokens / seconds)
                print(f"  round {r} {side:5s} {tokens / seconds:9.0f} tokens/s")
    # On a shared machine the fastest run of each side is the least disturbed one (as timeit advises); the
    # ratio within each round compares the two sides under the same load.
    plain, bench = max(rates["plain"]), max(rates["bench"])
    paired = statistics.median(b / p for p, b in zip(rates["plain"], rates["bench"], strict=True))
    print(
        f"best of {args.repeats}: plain {plain:.0f} tokens/s, bench {bench:.0f} tokens/s, "
        f"median ratio within a round {paired:.3f}"
    )
    if args.profile:
        profile_both(cfg, min(args.steps, 30), args.profile)  # 30 steps: enough to count, a trace that opens
    print(f"ratio bench/plain {bench / plain:.3f}")


if __name__ == "__main__":
    main()
