"""The sweep and reproduce commands: run a suite's cells, report what failed, compare with the reference.

run: python -m bench sweep ci --jobs 2
"""

import dataclasses
import sys

from bench.base.errors import BenchError


def sweep_suite(name: str, out: str | None, jobs: int, retry_failed=False, wandb=False, warm=True):
    """Run a suite: row by row, a row's tuning trials, then its cells at the setting they chose (a suite without
    tuning: all its cells at once); returns the suite as it stands after (cells, trials, choices) and the counts
    per status of all runs. Row by row, a suite that takes days finishes whole rows, its first rows first."""
    from bench.suites import load_suite
    from bench.sweep import sweep

    suite = load_suite(name, out)
    counts: dict = {}

    def run(cells) -> None:
        if cells:
            for k, v in sweep(
                dataclasses.replace(suite, cells=cells), jobs, retry_failed, wandb, warm
            ).items():
                counts[k] = round(counts.get(k, 0) + v, 1)

    if not suite.trials:
        run(suite.cells)
    for row in dict.fromkeys(c.row for c in suite.trials):
        run([c for c in suite.trials if c.row == row])
        suite = load_suite(name, out)  # the choice the row's finished trials make
        run([c for c in suite.cells if c.row == row])
    return suite, counts


def cmd_sweep(args, extras) -> int:
    from bench.suites import load_suite
    from bench.sweep import SweepInterrupted, failed_cells, pending_cells, sweep

    if args.jobs < 1:
        raise BenchError(f"--jobs must be at least 1, got {args.jobs}")
    suite = load_suite(args.suite, args.out)
    if suite.trials and (args.wandb_sweep or args.cell is not None):
        raise BenchError(
            f"suite '{args.suite}' tunes each cell on validation first, so its cells are known only after "
            f"the trials; run it with `python -m bench sweep {args.suite}` (no --cell, no --wandb-sweep)"
        )
    if args.wandb_sweep:
        from bench.sweep import wandb_sweep

        print(wandb_sweep(suite, args.suite))
        return 0
    if args.cell is not None:
        if not 0 <= args.cell < len(suite.cells):
            raise BenchError(
                f"--cell {args.cell} is out of range; suite '{suite.name}' has cells 0-{len(suite.cells) - 1}"
            )
        suite.cells = [suite.cells[args.cell]]
    try:
        if args.cell is not None:
            counts = sweep(suite, args.jobs, args.retry_failed, args.wandb, not args.cold)
        else:
            suite, counts = sweep_suite(
                args.suite, args.out, args.jobs, args.retry_failed, args.wandb, not args.cold
            )
    except SweepInterrupted as e:
        print(", ".join(f"{k}: {v}" for k, v in e.counts.items()))
        print(
            f"error: interrupted; {e.counts.get('interrupted', 0)} running cells recorded as interrupted; "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    print(", ".join(f"{k}: {v}" for k, v in counts.items()))
    out_dir = (suite.cells or suite.trials)[0].cfg.out
    runs = dataclasses.replace(suite, cells=suite.trials + suite.cells)  # what failed or is busy, trials too
    print(
        f"records: {out_dir}\ntable: python -m bench table {args.suite}"
        + (f" --out {args.out}" if args.out else "")
    )
    failed = failed_cells(runs)
    # cells found busy count only while the other sweep has not finished them
    busy = len(pending_cells(runs)) if counts.get("busy") else 0
    if busy:
        print(
            f"error: {busy} cells are still being run by another sweep or process (see "
            f"{out_dir}/logs/sweep.log); run again when it ends",
            file=sys.stderr,
        )
    if failed:
        names = ", ".join(p.stem for p in failed[:5]) + (
            f" and {len(failed) - 5} more" if len(failed) > 5 else ""
        )
        print(
            f"error: {len(failed)} cells failed: {names}; logs in {out_dir}/logs, "
            "rerun them with --retry-failed",
            file=sys.stderr,
        )
    return 1 if failed or busy else 0


def cmd_reproduce(args, extras) -> int:
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from bench import findings, reproduce, table
    from bench.suites import load_suite

    suite = load_suite(args.suite)
    ref_path = Path(args.reference) if args.reference else reproduce.reference_path(suite)
    if not ref_path.is_file():
        raise BenchError(
            f"no reference table at {ref_path}; make one with "
            f"`python -m bench table {args.suite} --format csv --output {ref_path}`"
        )
    suite, counts = sweep_suite(args.suite, args.out or reproduce.fresh_folder(suite), args.jobs)
    groups = table.collect(suite)
    new = table.to_csv(suite, groups)
    (Path(suite.cells[0].cfg.out) / "table.csv").write_text(new)
    rows, ok = reproduce.compare(ref_path.read_text(), new, suite.tolerances)
    t = Table(title=f"{suite.name}: reproduced vs {ref_path}", title_justify="left")
    for head in ("cell", "metric", "reference", "reproduced", "tolerance", "verdict"):
        t.add_column(head)
    for r in rows:
        t.add_row(*r[:-1], "[green]ok[/]" if r[-1] == "ok" else "[bold red]MISMATCH[/]")
    Console(width=160).print(t)
    bad = sum(r[-1] != "ok" for r in rows)
    print(
        f"{len(rows) - bad} of {len(rows)} compared values match; sweep {counts['wall_time_s']} s; "
        f"records in {suite.cells[0].cfg.out}"
    )
    held = findings.check(suite.findings, groups)
    for text, holds in held:
        print(f"finding {'holds' if holds else 'FAILS'}: {text}")
    broken = sum(not h for _, h in held)
    if held:
        print(f"{len(held) - broken} of {len(held)} findings hold")
    return 0 if ok and not broken else 1
