"""Forward + backward time and activation memory of every model at T = 100, 1,000 and 4,000 on the CPU, each at
the parameter count of a fused GRU-128 (families compared at equal size, not equal width), the scan families on
their three paths (bench/models/scan.py: fused, the training path; parallel; steps). Memory is what autograd
saves for the backward pass (BPTT's cost), counted by a saved-tensor hook, each storage once. The last lines are
minGRU's training (fused) and parallel paths over the fused GRU at T = 1,000 (target: at most 2).

run: python benchmarks/scan_speed.py --threads 1 --repeats 3
"""

import argparse
import statistics
import time

import torch

from bench import models
from bench.hardware import keep_freed_memory

INPUT, BATCH = 32, 16


def saved_bytes(run) -> int:
    """Bytes of the tensors autograd saves during `run()` (unique storages)."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor):
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = run()
    loss.backward()
    return sum(seen.values())


def measure(model, x: torch.Tensor, repeats: int) -> tuple[float, float]:
    """(median seconds of forward + backward, MB saved for backward)."""

    def run():
        out, _ = model(x)
        return out.float().pow(2).mean()

    memory = saved_bytes(run) / 2**20  # also the warm-up
    times = []
    for _ in range(repeats):
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        run().backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times), memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lengths", type=int, nargs="+", default=[100, 1000, 4000])
    parser.add_argument("--malloc-default", action="store_true", help="leave glibc's malloc as it is")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("allocator:", "left as it is" if args.malloc_default else keep_freed_memory() + ", as a run does")
    torch.manual_seed(0)
    target = sum(p.numel() for p in models.build("gru", INPUT, 128).parameters())
    print(
        f"batch {BATCH}, {INPUT} input features, {args.threads} thread(s), every model at ~{target:,} parameters"
    )
    print(
        f"{'model':12s} {'hidden':>6s} {'params':>7s} {'path':10s} "
        + " ".join(f"{f'T={t}':>18s}" for t in args.lengths)
    )
    results = {}
    for name in models.names():
        hidden = models.hidden_for_params(name, target, INPUT)
        model = models.build(name, INPUT, hidden)
        params = sum(p.numel() for p in model.parameters())
        paths = (
            ["fused", "parallel", "steps"]
            if hasattr(model, "scan")
            else ["fused" if models.spec(name).cell else "-"]
        )
        for path in paths:
            if hasattr(model, "scan"):
                model.scan = path
            cells = []
            for t in args.lengths:
                repeats = 1 if path == "steps" else args.repeats  # T autograd steps: slow, steady
                seconds, mb = measure(model, torch.randn(BATCH, t, INPUT), repeats)
                results[name, path, t] = seconds
                cells.append(f"{seconds * 1e3:8.1f} ms {mb:6.1f} MB")
            print(
                f"{name:12s} {hidden:6d} {params:7,d} {path:10s} " + " ".join(f"{c:>18s}" for c in cells),
                flush=True,
            )
    t = 1000 if 1000 in args.lengths else args.lengths[-1]
    for path in ("parallel", "fused"):
        ratio = results["mingru", path, t] / results["gru", "fused", t]
        print(f"mingru {path} / fused gru at T={t}: {ratio:.2f}")


if __name__ == "__main__":
    main()
