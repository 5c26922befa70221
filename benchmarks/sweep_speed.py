"""A sweep's wall time with a new interpreter per cell (--cold) and with the warm worker, in one run.

The same small suite (every task's offline dataset, tiny models, 1 epoch: cells where start-up dominates, as in
most of the ci suite) is swept cold and warm into fresh folders, alternating, `--repeats` times each. The last
line is the ratio of the median cold wall time to the median warm one.

With `--suite NAME` it times a shipped suite instead (one pass each unless --repeats says more): the ci suite's
before/after in the README comes from `BENCH_DATA=../shared/data python benchmarks/sweep_speed.py --suite ci
--repeats 1`.

run: python benchmarks/sweep_speed.py --jobs 2 --repeats 2
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def suite_text() -> str:
    sys.path.insert(0, str(ROOT))
    from bench import tasks

    entries = "\n".join(f"  {t}: {{datasets: [{tasks.get(t).offline_dataset}]}}" for t in tasks.names())
    return (
        "models: [rnn, gru]\nseeds: [0, 1]\n"
        "common: {threads: 1, max_epochs: 1, hidden_size: 8, batch_size: 64, max_minutes: 0}\n"
        f"tasks:\n{entries}\n"
    )


def sweep(suite: Path, out: Path, jobs: int, cold: bool) -> float:
    cmd = [sys.executable, "-m", "bench", "sweep", str(suite), "--out", str(out), "--jobs", str(jobs)]
    start = time.perf_counter()
    subprocess.run(cmd + (["--cold"] if cold else []), cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--suite", help="a shipped suite's name instead of the small generated one")
    args = parser.parse_args()
    times: dict[str, list[float]] = {"cold": [], "warm": []}
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / "speed.yaml"
        suite.write_text(suite_text())
        if args.suite:
            from bench.suites import load_suite

            suite = ROOT / "bench" / "configs" / "suites" / f"{args.suite}.yaml"
            cells = len(load_suite(args.suite).cells)
        else:
            cells = suite_text().count("datasets") * 4
        for i in range(args.repeats):
            for kind in (
                "warm",
                "cold",
            ):  # warm first: a data cache built on the first sweep is charged to it
                times[kind].append(sweep(suite, Path(tmp) / f"{kind}{i}", args.jobs, kind == "cold"))
                print(f"{kind} sweep {i}: {times[kind][-1]:.1f} s", flush=True)
    cold, warm = (statistics.median(times[k]) for k in ("cold", "warm"))
    print(f"{cells} cells, --jobs {args.jobs}: cold {cold:.1f} s, warm {warm:.1f} s (medians)")
    print(f"cold / warm wall time: {cold / warm:.2f}x")


if __name__ == "__main__":
    main()
