"""Speed of the scripted (normalized) recurrent cells against the fused cuDNN/oneDNN ones, training steps.

For each cell, forward + backward + an SGD step on one [B, T, F] batch, timed for the fused module (nn.RNN/LSTM/
GRU), the scripted loop without normalization, with layer norm and (LSTM) with batch norm. Variants alternate
within each round, so a busy machine slows all of them alike; the ratio is the median over rounds of
fused time / variant time (1.0: as fast as fused; 0.25: four times slower).

run: python benchmarks/cell_speed.py --threads 1 --device cpu
"""

import argparse
import statistics
import time

import torch

from bench import models
from bench.models.normalized import ScriptedRecurrent

VARIANTS = {  # name -> builder(cell, input, hidden)
    "fused": lambda cell, f, h: models.build(cell, f, h),
    "loop": lambda cell, f, h: ScriptedRecurrent(cell, f, h, norm="none"),
    "layer": lambda cell, f, h: models.build(cell, f, h, norm_layer="layer"),
    "batch": lambda cell, f, h: models.build(cell, f, h, norm_layer="batch"),
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def step_time(module, x: torch.Tensor, steps: int) -> float:
    """Seconds per training step (forward, backward, SGD update), after one untimed warm-up step."""
    opt = torch.optim.SGD(module.parameters(), lr=1e-3)
    for i in range(steps + 2):
        if i == 2:  # two warm-up steps: TorchScript's profiling executor optimizes on the second call
            sync(x.device)
            start = time.perf_counter()
        opt.zero_grad()
        out = module(x)[0]  # [B, T, H]
        out.pow(2).mean().backward()
        opt.step()
    sync(x.device)
    return (time.perf_counter() - start) / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=100)
    p.add_argument("--input", type=int, default=32)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    x = torch.randn(args.batch, args.seq_len, args.input, device=device)
    print(
        f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
        f"threads {torch.get_num_threads()}, B={args.batch} T={args.seq_len} F={args.input} H={args.hidden}, "
        f"{args.steps} steps x {args.rounds} rounds"
    )
    print(f"{'cell':5s} {'variant':7s} {'ms/step':>9s} {'tokens/s':>10s} {'vs fused':>9s}")
    for cell in ("rnn", "lstm", "gru"):
        names = [v for v in VARIANTS if v != "batch" or cell == "lstm"]
        mods = {v: VARIANTS[v](cell, args.input, args.hidden).to(device) for v in names}
        times = {v: [] for v in names}
        for _ in range(args.rounds):
            for v in names:
                times[v].append(step_time(mods[v], x, args.steps))
        for v in names:
            best = min(times[v])
            ratio = statistics.median(f / t for f, t in zip(times["fused"], times[v], strict=True))
            tokens = args.batch * args.seq_len / best
            print(f"{cell:5s} {v:7s} {best * 1e3:9.2f} {tokens:10.0f} {ratio:9.2f}")


if __name__ == "__main__":
    main()
