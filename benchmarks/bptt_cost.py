"""The cost of backpropagation through time: time per step and peak memory against sequence length T.

Each cell (fused rnn, lstm, gru) trains on adding-problem batches of length T (a loss on the final step) in three
ways: full BPTT (every step's activations kept for backward), truncated BPTT with a fixed window W (the first
T - W steps run without a graph, only the last W are backpropagated), and gradient checkpointing over
K = round(sqrt(T)) segments (`--checkpoint-segments K`: exact gradients, one extra forward). Every point runs
in a fresh process, so its peak memory is its own: CUDA's peak allocated on a GPU, on the CPU the growth of
the process's peak resident set (ru_maxrss) over what it held before the first step. `--learn` trains an LSTM
on the adding problem with full and truncated BPTT and reports what truncation costs in test MSE.

run: python benchmarks/bptt_cost.py --threads 1 --out results/bptt
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's packages, not an install

from bench import models  # noqa: E402
from bench.tasks.probes import adding  # noqa: E402

MODES = ("full", "truncated", "checkpoint")


class Probe(nn.Module):
    """Recurrent encoder and a regression from the final step: [B, T, 2] -> [B]."""

    def __init__(self, cell: str, hidden: int, segments: int = 0):
        super().__init__()
        self.enc = models.build(cell, 2, hidden, checkpoint_segments=segments)
        self.fc = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor, window: int = 0) -> torch.Tensor:
        state = None
        if window and window < x.shape[1]:
            # truncated BPTT: the prefix only sets the state, without a graph, and in window-sized chunks so that
            # not even its outputs are held for all T steps at once
            with torch.no_grad():
                for start in range(0, x.shape[1] - window, window):
                    _, state = self.enc(x[:, start : min(start + window, x.shape[1] - window)], None, state)
            x = x[:, -window:]
        out, _ = self.enc(x, None, state)  # [B, T, H]
        return self.fc(out[:, -1]).squeeze(-1)  # [B]


def peak_mb(device: torch.device, base_kb: int) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_kb) / 1024


def point(args) -> dict:
    """One (cell, mode, T) measurement in this process."""
    device = torch.device(args.device)
    torch.manual_seed(0)
    segments = round(args.seq_len**0.5) if args.mode == "checkpoint" else 0
    window = args.window if args.mode == "truncated" else 0
    model = Probe(args.cell, args.hidden, segments).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = adding(args.batch, args.seq_len, seed=0)
    x, y = x.to(device), y.to(device)  # [B, T, 2], [B]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        torch.cuda.synchronize(device)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(args.steps + 1):  # the first step warms up and is not timed
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.mse_loss(model(x, window), y)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return {
        "cell": args.cell,
        "mode": args.mode,
        "T": args.seq_len,
        "segments": segments,
        "window": window,
        "ms_per_step": 1e3 * statistics.median(times[1:]),
        "peak_mb": peak_mb(device, base),
    }


def sweep(args) -> list[dict]:
    """Every (cell, mode, T) in its own process; a mode stops growing T after it runs out of memory."""
    rows = []
    for cell in args.cells:
        for mode in MODES:
            for t in args.lengths:
                cmd = [
                    sys.executable,
                    __file__,
                    "--point",
                    "--cell",
                    cell,
                    "--mode",
                    mode,
                    "--seq-len",
                    str(t),
                ]
                for key in ("batch", "hidden", "window", "steps", "threads", "device"):
                    cmd += [f"--{key}", str(getattr(args, key))]
                res = subprocess.run(cmd, capture_output=True, text=True)
                if res.returncode != 0:
                    why = "out of memory" if "out of memory" in res.stderr.lower() else res.stderr[-300:]
                    print(f"{cell} {mode} T={t}: stopped ({why})", flush=True)
                    break
                row = json.loads(res.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(
                    f"{cell:4s} {mode:10s} T={t:5d} {row['ms_per_step']:9.1f} ms/step {row['peak_mb']:8.1f} MB",
                    flush=True,
                )
    return rows


def plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"full": "-", "truncated": ":", "checkpoint": "--"}
    colors = {"rnn": "tab:blue", "lstm": "tab:orange", "gru": "tab:green"}
    for (cell, mode), pts in _groups(rows).items():
        ts = [r["T"] for r in pts]
        for ax, key in zip(axes, ("ms_per_step", "peak_mb"), strict=True):
            ax.plot(ts, [r[key] for r in pts], styles[mode], color=colors[cell], marker="o", ms=3)
    for ax, label in zip(axes, ("time per training step (ms)", "peak memory of the step (MiB)"), strict=True):
        ax.set_xlabel("sequence length T")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color=c, label=n) for n, c in colors.items()]
    handles += [plt.Line2D([], [], color="k", ls=s, label=m) for m, s in styles.items()]
    axes[0].legend(handles=handles, fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _groups(rows: list[dict]) -> dict:
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["cell"], r["mode"]), []).append(r)
    return groups


def learn(args) -> list[dict]:
    """Adding problem, LSTM: full BPTT against truncation to a window shorter than T (test MSE per seed)."""
    x_test, y_test = adding(1000, args.learn_len, seed=10**6)
    rows = []
    for seed in range(args.seeds):
        for window in (0, args.learn_window):
            torch.manual_seed(seed)
            model = Probe("lstm", 64)
            opt = torch.optim.Adam(model.parameters(), lr=2e-3)
            x, y = adding(args.learn_steps * 64, args.learn_len, seed=seed)
            for i in range(args.learn_steps):
                opt.zero_grad()
                loss = nn.functional.mse_loss(
                    model(x[i * 64 : (i + 1) * 64], window), y[i * 64 : (i + 1) * 64]
                )
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
            with torch.no_grad():
                mse = nn.functional.mse_loss(model(x_test), y_test).item()
            rows.append({"seed": seed, "window": window or args.learn_len, "test_mse": mse})
            print(
                f"seed {seed} window {window or 'full'}: test MSE {mse:.4f} (always-1 baseline 0.167)",
                flush=True,
            )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"])
    p.add_argument("--lengths", nargs="+", type=int, default=[50, 100, 200, 500, 1000, 2000])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--window", type=int, default=50, help="truncated BPTT: backpropagated steps")
    p.add_argument("--steps", type=int, default=3, help="timed steps per point (after one warm-up)")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", default="results/bptt")
    p.add_argument("--learn", action="store_true", help="also train on the adding problem, full vs truncated")
    p.add_argument("--learn-len", type=int, default=60)
    p.add_argument("--learn-window", type=int, default=15)
    p.add_argument("--learn-steps", type=int, default=1500)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--point", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--cell", help=argparse.SUPPRESS)
    p.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    p.add_argument("--seq-len", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.point:
        print(json.dumps(point(args)))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    where = (
        torch.cuda.get_device_name()
        if args.device.startswith("cuda")
        else f"CPU, {args.threads or 'all'} thread(s)"
    )
    title = (
        f"BPTT cost on {where}: B={args.batch}, H={args.hidden}, truncation window {args.window}, "
        "checkpointing in round(sqrt(T)) segments"
    )
    result = {
        "settings": {k: v for k, v in vars(args).items() if k not in ("point", "cell", "mode", "seq_len")}
    }
    result["cost"] = sweep(args)
    plot(result["cost"], out / "bptt_cost.png", title)
    if args.learn:
        result["learn"] = learn(args)
    (out / "bptt_cost.json").write_text(json.dumps(result, indent=1))
    print(f"plot: {out / 'bptt_cost.png'}\nresults: {out / 'bptt_cost.json'}")


if __name__ == "__main__":
    main()
