"""What the hardware can run, found by probing it (never by the CPU's or GPU's name), and what a run ran on.

Mixed precision on a CPU runs the recurrent layer through oneDNN's fused kernel where the CPU has one for
that cell and dtype, and through torch's native implementation (oneDNN off for that layer) where it has not:
oneDNN has no bf16 LSTM without AVX-512 (an AVX2-only EPYC, for example) and no fp16 LSTM at all.

run: python -c "import torch; from bench.hardware import cpu_rnn_kernel; print(cpu_rnn_kernel('lstm', torch.bfloat16))"
"""

import ctypes
import functools
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from bench import models
from bench.base.errors import BenchError
from bench.models.recurrent import CELLS, onednn

# Lightning runs "16-mixed" on a CPU as bf16 (it says so in a warning); both autocast the CPU to bf16.
CPU_AUTOCAST = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.bfloat16}


def device_type(accelerator: str) -> str:
    """The device type Lightning's `accelerator` resolves to on this machine: cuda, mps or cpu."""
    if accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return "cuda"
    if accelerator in ("gpu", "mps", "auto") and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


@functools.cache
def cpu_rnn_kernel(cell: str, dtype: torch.dtype) -> str | None:
    """'onednn' or 'native': the first CPU path that runs a forward and backward of `cell` under autocast to
    `dtype`; None when neither does. Probed once per process, on a tiny layer, with the random state kept."""
    for kernel in ("onednn", "native"):
        with torch.random.fork_rng(devices=[]), onednn(kernel == "onednn"):
            layer = CELLS[cell](4, 4, batch_first=True)
            try:
                with torch.autocast("cpu", dtype=dtype):
                    out, _ = layer(torch.randn(2, 3, 4))
                out.float().sum().backward()
            except RuntimeError:
                continue
        return kernel
    return None


def rnn_kernel(model: str, accelerator: str, precision: str) -> str:
    """The kernel that will run the model's recurrent layer: 'cudnn', 'onednn' or 'native' (a model of plain
    torch ops, or the fused cell with oneDNN off). The model's spec names its fused cell, if it has one.

    `BENCH_RNN_KERNEL=native` forces torch's native CPU path (to test it, or to compare it, on any CPU).
    Raises a one-line BenchError when no path can run the cell at this precision."""
    cell = models.spec(model).cell
    dev = device_type(accelerator)
    if cell is None:
        return "native"
    if dev == "cuda":
        return "cudnn" if torch.backends.cudnn.is_available() else "native"
    if dev != "cpu":
        return "native"
    forced = os.environ.get("BENCH_RNN_KERNEL", "")
    if forced not in ("", "native", "onednn"):
        raise BenchError(f"BENCH_RNN_KERNEL={forced!r} is not a kernel; valid: onednn, native (or unset)")
    if precision not in CPU_AUTOCAST:
        return forced or "onednn"
    kernel = cpu_rnn_kernel(cell, CPU_AUTOCAST[precision])
    if kernel is None:
        raise BenchError(
            f"--precision {precision} cannot run the {model} on this CPU (neither oneDNN's fused kernel nor "
            "torch's native one); use --precision 32"
        )
    return forced or kernel


def usable_cores(cgroup: Path = Path("/sys/fs/cgroup")) -> tuple[int, str]:
    """The cores this process may run on, and where that number comes from: the affinity mask, capped by the
    container's CPU quota (cgroup v2 cpu.max, or v1 cfs_quota_us / cfs_period_us), not os.cpu_count()."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    why = f"affinity {cores}"
    quota = None
    try:
        q, period = (cgroup / "cpu.max").read_text().split()[:2]
        quota = None if q == "max" else int(q) / int(period)
    except (OSError, ValueError):
        try:
            q = int((cgroup / "cpu" / "cpu.cfs_quota_us").read_text())
            quota = q / int((cgroup / "cpu" / "cpu.cfs_period_us").read_text()) if q > 0 else None
        except (OSError, ValueError):
            pass
    if quota is not None:
        why += f", cgroup quota {quota:g}"
        cores = max(1, min(cores, int(quota)))
    return cores, why


def keep_freed_memory() -> str:
    """Have glibc's malloc keep freed memory for the next allocation instead of handing it back to the kernel.
    By default every block above its mmap threshold (32 MB at most) is a fresh mapping, page-faulted and zeroed
    page by page, so a training step pays for its activations' memory again each time: on the 2-core VM an
    equal-size minGRU's forward + backward at T = 1,000 ran 1.5-3x slower so (benchmarks/scan_speed.py).
    Idempotent, for the whole process; the memory goes back when the process ends. Returns what it did."""
    if platform.libc_ver()[0] != "glibc":
        return "the platform's allocator (not glibc)"
    libc = ctypes.CDLL(None)
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    if libc.mallopt(m_mmap_threshold, 1 << 30) and libc.mallopt(m_trim_threshold, 2**31 - 1):
        return "glibc malloc keeps freed memory (mmap threshold 1 GiB, no trim)"
    return "glibc malloc as it was (mallopt refused)"


MORE_THREADS_MARGIN = 1.25  # more threads must win by this factor: losing to contention costs far more


def pick_threads(step, cores: int, rounds: int = 3) -> tuple[int, str]:
    """1 or `cores` intra-op threads for `step()` (a training step), timed now, on this machine as loaded as it
    is: a small recurrent layer gains little from more threads, and threads that share a core with another busy
    process run 3-40x slower (issue #32). The counts are timed in alternating rounds, so a load that comes and
    goes meets both, and each keeps its median step. `cores` threads must be MORE_THREADS_MARGIN times faster to
    be chosen: 1 thread on an idle machine loses at most that factor, too many threads under load lose much
    more. Returns the count and the timings as text."""
    if cores <= 1:
        return 1, "1 usable core"
    times: dict[int, list[float]] = {1: [], cores: []}
    for n in (1, cores):  # warm-up: allocations, oneDNN primitives for each count
        torch.set_num_threads(n)
        step()
    for _ in range(rounds):
        for n in times:
            torch.set_num_threads(n)
            start = time.perf_counter()
            step()
            times[n].append(time.perf_counter() - start)
    best = {n: statistics.median(t) for n, t in times.items()}
    chosen = cores if best[cores] * MORE_THREADS_MARGIN < best[1] else 1
    torch.set_num_threads(chosen)
    timings = ", ".join(f"{n} threads {t * 1e3:.1f} ms" for n, t in best.items())
    return (
        chosen,
        f"median step of {rounds}, alternating: {timings}; more threads must be {MORE_THREADS_MARGIN}x faster",
    )
