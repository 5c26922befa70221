"""Training steps per second at 1, 2 and auto threads (no --threads) for each task's default model, on the
machine as it is and beside one busy process (a Python loop on one core, as another user's job would be).

Each run is `python -m bench run --task T ...` on a small slice of the task's default data for one epoch; the
figure is `steps_per_s` from its record. The last line is the ratio of auto to the better of 1 and 2 threads
under load, the worst over the tasks (issue #32 asks for >= 0.9).

run: python benchmarks/threads.py
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SLICES = {  # one epoch of each task, a few seconds of training
    "speech": ["--dataset", "dtmf", "--train-limit", "320"],
    "probes": ["--dataset", "adding", "--seq-len", "200", "--n-train", "640", "--n-eval", "64"],
    "forecast": ["--dataset", "synthetic"],
    "lm": ["--dataset", "synthetic", "--hidden-size", "128"],
    "video": ["--dataset", "moving-shapes", "--n-train", "64", "--n-eval", "32"],
}


def steps_per_s(task: str, threads: str, out: Path) -> tuple[float, str]:
    args = ["--task", task, *SLICES[task], "--max-epochs", "1", "--max-minutes", "0", "--out", str(out)]
    args += [] if threads == "auto" else ["--threads", threads]
    res = subprocess.run(
        [sys.executable, "-m", "bench", "run", *args], cwd=ROOT, capture_output=True, text=True, check=True
    )
    record = json.loads(Path(res.stdout.strip().splitlines()[-1].removeprefix("record: ")).read_text())
    return record["steps_per_s"], record["env"]["cpu_threads_why"]


def main() -> None:
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for load in ("as is", "one busy process"):
            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if load != "as is" else None
            try:
                for task in SLICES:
                    got = {
                        n: steps_per_s(task, n, Path(tmp) / f"{task}-{n}-{bool(busy)}")
                        for n in ("1", "2", "auto")
                    }
                    line = ", ".join(f"{n}: {s:.1f}" for n, (s, _) in got.items())
                    print(f"{load:16s} {task:9s} steps/s {line}  [{got['auto'][1]}]", flush=True)
                    if busy:
                        ratios.append((got["auto"][0] / max(got["1"][0], got["2"][0]), task))
            finally:
                if busy:
                    busy.kill()
    worst, task = min(ratios)
    print(f"auto / best of 1 and 2 threads under load, worst task ({task}): {worst:.2f}")


if __name__ == "__main__":
    main()
