"""Run one (task, dataset, model, clip, seed, hyper-parameters) cell and write its record.

run: python -c "from bench.config import resolve; from bench.runner import run; run(resolve({'dataset': 'dtmf'}))"
"""

import contextlib
import copy
import logging
import math
import os
import shutil
import signal
import sys
import threading
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, EarlyStopping, ModelCheckpoint, Timer

from bench import tasks
from bench.base.batching import TensorDataModule
from bench.base.datasets import file_digest
from bench.base.errors import BadInput, BenchError, Diverged
from bench.config import RunConfig
from bench.diagnostics import GradientDiagnostics, save_profile_plot
from bench.hardware import device_type, keep_freed_memory, pick_threads, rnn_kernel, usable_cores
from bench.module import SeqModule
from bench.publish import publish, work_dir
from bench.records import Record, Status, environment, record_paths

# Lightning advertises its cloud logger on every Trainer, names the work folder's checkpoint that testing restores
# (gone once the run is published: the run prints the final path), and torch deprecates a class that Lightning
# 2.6 still uses: no line of these is something a user of this suite can act on.
_QUIET = ("litlogger", "Restoring states from the checkpoint", "Loaded model weights from the checkpoint")
logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(
    lambda r: not any(q in r.getMessage() for q in _QUIET)
)
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
# SeqModule keeps `lengths` on the host in its own transfer_batch_to_device, on purpose.
warnings.filterwarnings("ignore", message=r"You have overridden `transfer_batch_to_device`")


class Throughput(Callback):
    """Optimizer steps per second of pure training time (validation and data set-up excluded)."""

    def __init__(self):
        self.seconds, self.steps, self._t = 0.0, 0, 0.0

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self._t = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.seconds += time.perf_counter() - self._t
        self.steps += 1


def make_trainer(cfg: RunConfig, task, run_dir: Path, extra: list, logger=False) -> pl.Trainer:
    monitor, mode = f"val/{task.primary_metric}", "max" if task.higher_is_better else "min"
    tty = sys.stderr.isatty()
    callbacks = [
        EarlyStopping(monitor=monitor, mode=mode, patience=cfg.patience),
        ModelCheckpoint(
            dirpath=run_dir,
            filename="best",
            monitor=monitor,
            mode=mode,
            save_top_k=1,
            enable_version_counter=False,
        ),
        *extra,
    ]
    trainer = pl.Trainer(
        max_epochs=cfg.max_epochs,
        max_time={"minutes": cfg.max_minutes} if cfg.max_minutes else None,
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        num_nodes=cfg.num_nodes,
        strategy=cfg.strategy,
        precision=cfg.precision,
        gradient_clip_val=cfg.clipping.limit,
        gradient_clip_algorithm=cfg.clipping.algo,
        callbacks=callbacks,
        logger=logger,
        default_root_dir=run_dir,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        enable_progress_bar=tty,
        deterministic="warn",  # with seeds and a fixed thread count, CPU runs repeat exactly
        inference_mode=False,  # evaluation runs under no_grad instead, so the gradient probe can use autograd
    )
    # Deterministic mode would also fill every new tensor with NaN before use: one more kernel per allocation
    # (about 70 per language-model step). No op here reads memory it did not write, so runs still repeat exactly
    # (tests/test_train.py), as torch's documentation of this flag allows.
    torch.utils.deterministic.fill_uninitialized_memory = False
    return trainer


@dataclass
class Parts:
    """What a run builds, step by step; a failure leaves the later parts None and the earlier ones summarised."""

    throughput: Throughput
    diagnostics: GradientDiagnostics
    data: TensorDataModule | None = None
    module: SeqModule | None = None
    trainer: pl.Trainer | None = None
    logger: object = None


def run(cfg: RunConfig) -> tuple[Record, Path | None]:
    """build -> fit -> test -> record. Returns the record and its path (None on DDP ranks other than 0).

    Never raises for a failed or interrupted run, and writes a record whatever its metrics look like; data that
    no run can use raises BadInput before any work, with no record, as a bad flag does. It trains
    into a work folder that replaces the run folder only when the run finishes (bench.publish)."""
    task = tasks.get(cfg.task)
    record_path, final_dir = record_paths(cfg)
    run_dir = work_dir(final_dir)
    record = Record.start(cfg, task)
    record.env = environment(device_type(cfg.accelerator), cfg.precision)
    parts = Parts(Throughput(), GradientDiagnostics(cfg.clipping))
    start = time.perf_counter()
    launched_by = dict(os.environ)
    if "LOCAL_RANK" not in os.environ:  # a single or launching process: a killed attempt's folder is stale
        shutil.rmtree(run_dir, ignore_errors=True)
    with signals_as_interrupts() as signals:
        with outcome(record):
            try:
                build(cfg, task, parts, record, run_dir, record_path)
                fit_and_test(parts, record)
            finally:
                signals.hold()  # from here on a signal waits: the record is written first
                leave_process_group()
                restore_environment(launched_by)
        record.wall_time_s = round(time.perf_counter() - start, 2)
        record.steps, seconds = parts.throughput.steps, parts.throughput.seconds
        record.steps_per_s = round(record.steps / seconds, 2) if seconds else None
        if parts.trainer is not None:
            record.world_size = parts.trainer.world_size
            if not parts.trainer.is_global_zero:
                return record, None  # DDP: rank 0 alone writes the record, the plot and the W&B run
        if parts.module is not None:
            summarize(cfg, task, parts, record, run_dir)
        if parts.logger is not None:
            from bench import tracking

            _guard(record, "wandb", lambda: setattr(record, "wandb", tracking.finish(parts.logger, record)))
        return publish(record, record_path, final_dir)


def leave_process_group() -> None:
    """DDP: each rank leaves its process group once fit and test are over (rank 0 needs no collective after them).
    Left to the interpreter's exit, gloo's worker threads can outlive it and abort the rank (SIGABRT, "terminate
    called without an active exception"), and Lightning's launcher then kills the whole run: pytorch#190489."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def restore_environment(environ: dict) -> None:
    """The process that started the run gets back the environment it had (`environ`): Lightning leaves
    LOCAL_RANK, MASTER_PORT and the seed in it, and a later run in the same process (the API, a test) would then
    take itself for a launched rank, skip its cell lock and wait for ranks that never come. A launched rank's
    environment is its launcher's to keep."""
    if "LOCAL_RANK" not in environ:
        for added in set(os.environ) - set(environ):
            del os.environ[added]
        os.environ.update(environ)


class Terminated(BaseException):
    """SIGTERM, raised where the run is (data preparation included), so it ends as an interrupted record."""


class Signals:
    """The run's SIGTERM and SIGINT handler: the first signal raises where the run is, once (SIGTERM as
    Terminated, SIGINT as KeyboardInterrupt, as Python's own handler would); a later one, or one after `hold()`,
    is only counted, so the record is written whatever arrives while it is."""

    def __init__(self) -> None:
        self.received, self.held = 0, False

    def __call__(self, signum, frame) -> None:
        self.received += 1
        if self.received == 1 and not self.held:
            raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt

    def hold(self) -> None:
        self.held = True


@contextlib.contextmanager
def signals_as_interrupts():
    """SIGTERM and SIGINT handled by one Signals for the run (Lightning's own SIGTERM handler calls it too,
    inside fit); the previous handlers are back after it. Signals are the main thread's alone: elsewhere
    nothing changes."""
    handler = Signals()
    if threading.current_thread() is not threading.main_thread():
        yield handler
        return
    previous = {n: signal.signal(n, handler) for n in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield handler
    finally:
        for n, h in previous.items():
            signal.signal(n, h)


@contextlib.contextmanager
def outcome(record: Record):
    """How a run ended, in one place: every exception becomes the record's status and reason."""
    sigint = signal.getsignal(signal.SIGINT)
    try:
        yield
    except BadInput:  # no run happened: the caller prints one line and exits 2
        raise
    except Diverged as e:
        record.status, record.reason, record.diverged_step = Status.DIVERGED, str(e), e.step
    except BenchError as e:
        record.reason = str(e)
    except (KeyboardInterrupt, SystemExit, Terminated) as e:  # Ctrl-C (Lightning: SystemExit), SIGTERM
        record.status = Status.INTERRUPTED
        why = {"KeyboardInterrupt": "Ctrl-C", "Terminated": "SIGTERM", "SIGTERMException": "SIGTERM"}
        record.reason = (
            f"interrupted ({why.get(type(e).__name__, type(e).__name__)}); rerun to train it again"
        )
        signal.signal(signal.SIGINT, sigint)  # Lightning ignores Ctrl-C from then on; the caller may want it
    except Exception as e:  # a bug or a resource problem: recorded so a sweep goes on
        record.reason, record.traceback = f"{type(e).__name__}: {e}", traceback.format_exc()


def choose_threads(cfg: RunConfig, task, dm, module) -> str:
    """Set torch's CPU threads: --threads N as given; by default the faster of 1 and all usable cores, timed on
    a copy of the model and a validation batch (the run's own model and random streams stay untouched)."""
    if cfg.threads:
        return f"--threads {cfg.threads}"
    cores, where = usable_cores()
    if device_type(cfg.accelerator) != "cpu" or cfg.world_size > 1:
        share = max(1, cores // cfg.world_size)
        torch.set_num_threads(share)
        return f"{share}: usable cores ({where}) / {cfg.world_size} processes"
    probe, batch = copy.deepcopy(module), next(iter(dm.val_dataloader()))

    def step() -> None:
        with torch.random.fork_rng(devices=[]):
            probe.zero_grad(set_to_none=True)
            probe(batch["x"], batch.get("lengths"))[0].float().sum().backward()  # a step's cost, not its loss

    n, how = pick_threads(step, cores)
    return f"auto: {n} of {cores} usable cores ({where}); {how}"


def build(cfg: RunConfig, task, parts: Parts, record: Record, run_dir: Path, record_path: Path) -> None:
    """Threads and matmul settings, seed, data, model and Trainer; the environment as Lightning resolved it."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # needed by deterministic cuBLAS on GPU
    malloc = keep_freed_memory()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)  # before any op: the data's preparation runs with it too
    kernel = rnn_kernel(cfg.model, cfg.accelerator, cfg.precision)
    torch.set_float32_matmul_precision(cfg.matmul_precision)
    torch.backends.cudnn.allow_tf32 = cfg.matmul_precision != "highest"
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    parts.data = dm = TensorDataModule(task, cfg)
    try:
        dm.prepare_data()
        dm.setup("fit")
    except BenchError as e:  # the data is unusable: bad input, as a bad flag is, before any work
        raise BadInput(str(e)) from None
    parts.module = module = SeqModule(cfg, task, dm.info)
    module.encoder.cpu_kernel = "native" if kernel == "native" else "onednn"
    module.print_epochs = not sys.stderr.isatty()  # a line per epoch where there is no progress bar
    threads = choose_threads(cfg, task, dm, module)
    record.params = sum(p.numel() for p in module.parameters() if p.requires_grad)
    record.data = dm.info.get("sizes", {})
    if cfg.wandb:
        from bench import tracking

        parts.logger = tracking.run_logger(cfg, record_path.stem)
    extra = [parts.throughput, parts.diagnostics]
    parts.trainer = make_trainer(cfg, task, run_dir, extra, parts.logger or False)
    used = parts.trainer.strategy.root_device.type  # what Lightning resolved, not what was asked
    record.env = environment(used, str(parts.trainer.precision), kernel) | {
        "cpu_threads_why": threads,
        "malloc": malloc,
    }


def fit_and_test(parts: Parts, record: Record) -> None:
    """Train, restore the best checkpoint, test: the record's status, checkpoint and test metrics."""
    trainer, module = parts.trainer, parts.module
    trainer.fit(module, datamodule=parts.data)
    if cap := time_cap(trainer, module.cfg.max_epochs):
        record.reason = cap
    best = trainer.checkpoint_callback.best_model_path
    if not best:
        raise BenchError("no checkpoint was saved (did validation run?)")
    trainer.test(module, datamodule=parts.data, ckpt_path=best, verbose=False)
    record.status, record.checkpoint = Status.OK, best
    record.checkpoint_sha256 = file_digest(Path(best))
    results = module.results["test"]
    record.metrics.update({f"test/{k}": v for k, v in results.items() if _scalar(v)})
    record.matrices = {f"test/{k}": v for k, v in results.items() if not _scalar(v)}


def time_cap(trainer: pl.Trainer, max_epochs: int) -> str:
    """Why training ended early when --max-minutes ended it (Lightning's Timer), else '': the record, the run's
    last line and the table say so, since such a result depends on the machine's speed."""
    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
    if timer is None or timer.time_remaining("train") > 0:
        return ""
    return f"stopped by the time cap after {trainer.current_epoch} of {max_epochs} epochs"


def summarize(cfg: RunConfig, task, parts: Parts, record: Record, run_dir: Path) -> None:
    """Rank 0, after training: each summary on its own, so a failure in one (a plot, NaNs) loses nothing else."""
    diagnostics = parts.diagnostics
    _guard(record, "history", lambda: _summarize_history(record, parts.module.history))
    _guard(record, "grad_summary", lambda: setattr(record, "grad_summary", diagnostics.summary()))
    _guard(record, "baselines", lambda: setattr(record, "baselines", task.baselines(parts.data, cfg)))
    if record.status == Status.OK:
        _guard(
            record,
            "extras",
            lambda: setattr(record, "extras", task.extras(parts.module, parts.data, cfg, run_dir)),
        )
    _guard(record, "grad_profile", lambda: _save_profile(record, diagnostics.profile, cfg, run_dir))


def _guard(record: Record, what: str, fn) -> None:
    """Run one summarising step; its error goes into the record instead of losing the record."""
    try:
        fn()
    except Exception as e:
        record.summary_errors[what] = f"{type(e).__name__}: {e}"


def _save_profile(record: Record, profile: list[float], cfg: RunConfig, run_dir: Path) -> None:
    record.grad_profile = profile
    if profile:
        run_dir.mkdir(parents=True, exist_ok=True)
        title = f"{cfg.task}/{cfg.dataset} {cfg.model} clip {cfg.clip}"
        record.grad_profile_png = save_profile_plot(profile, run_dir / "grad_profile.png", title)


def _scalar(v) -> bool:
    return isinstance(v, int | float)


def _summarize_history(record: Record, history: list[dict]) -> None:
    """Epoch count, learning curves, and the validation metrics of the best epoch."""
    record.epochs, record.history = len(history), history
    key = f"val/{record.primary_metric}"
    scored = [h for h in history if key in h and math.isfinite(h[key])]
    if scored:
        best = (max if record.higher_is_better else min)(scored, key=lambda h: h[key])
        record.best_epoch = best["epoch"]
        record.metrics.update({k: v for k, v in best.items() if k.startswith("val/")})
