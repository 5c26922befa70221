"""Command line: python -m bench {run, generate, tasks, models} ...

run: python -m bench run --task speech --model lstm --clip norm:1.0
"""

import argparse
import dataclasses
import sys

from bench.errors import BenchError

RUN_FLAGS = {  # flag -> (type, help); every one maps onto a RunConfig field of the same name
    "task": (str, "task family (see `bench tasks`)"),
    "dataset": (str, "dataset of the task (default: the task's default)"),
    "model": (str, "rnn | lstm | gru (see `bench models`)"),
    "clip": (str, "gradient clipping: none | norm:<max> | value:<max>"),
    "seed": (int, "random seed"),
    "max_epochs": (int, "maximum training epochs"),
    "max_minutes": (float, "wall-clock training budget in minutes (0 = none)"),
    "patience": (int, "early-stopping patience in epochs on the primary validation metric"),
    "batch_size": (int, "batch size"),
    "lr": (float, "learning rate"),
    "weight_decay": (float, "weight decay"),
    "hidden_size": (int, "recurrent hidden size"),
    "num_layers": (int, "stacked recurrent layers"),
    "dropout": (float, "dropout between layers and before the head"),
    "recurrent_init_scale": (float, "scale of the orthogonal hidden-to-hidden init (>1 explodes)"),
    "norm_layer": (str, "none (fused cells) | layer (Ba et al. 2016) | batch (lstm, Cooijmans et al. 2017)"),
    "checkpoint_segments": (int, "K > 1: gradient checkpointing over K time segments (exact, less memory)"),
    "optimizer": (str, "adam (default) | adamw | sgd"),
    "momentum": (float, "SGD momentum (default 0)"),
    "schedule": (str, "lr schedule: plateau (default: halve after 3 flat epochs) | cosine | none"),
    "warmup_steps": (int, "linear lr warm-up over the first N optimizer steps (default 0)"),
    "devices": (int, "devices per node (DDP: one process each; --batch-size is the global batch)"),
    "num_nodes": (int, "machines (with torchrun or SLURM)"),
    "strategy": (str, "Lightning strategy: auto | ddp | ddp_spawn | ..."),
    "accelerator": (str, "auto | cpu | gpu"),
    "precision": (str, "32 | bf16-mixed | 16-mixed"),
    "out": (str, "folder for records, checkpoints and plots (default runs/)"),
}


def task_options_help() -> str:
    import tasks

    lines = ["task options (pass as --name value; also accepted as keys in --config FILE):"]
    for name in tasks.names():
        task = tasks.get(name)
        opts = ", ".join(
            f"--{f.name.replace('_', '-')} {f.default!r}" for f in dataclasses.fields(task.Options)
        )
        lines.append(f"  {name}: datasets {', '.join(task.datasets)}; options {opts or '(none)'}")
    return "\n".join(lines)


def parse_extras(extras: list[str]) -> dict:
    """`--key value`, `--key=value` and bare `--flag` (true) pairs for task options."""
    out, i = {}, 0
    while i < len(extras):
        item = extras[i]
        if not item.startswith("--"):
            raise BenchError(f"unexpected argument '{item}'; options look like --name value")
        key, eq, value = item[2:].partition("=")
        if not eq:
            if i + 1 < len(extras) and not extras[i + 1].startswith("--"):
                value, i = extras[i + 1], i + 1
            else:
                value = "true"
        out[key.replace("-", "_")] = value
        i += 1
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench", description="seqbench: recurrent sequence model benchmarks"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        allow_abbrev=False,  # else argparse reads a task option such as --mode as an abbreviation of --model
        help="train and test one configuration, write its record",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=task_options_help(),
    )
    for name, (kind, text) in RUN_FLAGS.items():
        run.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, help=text)
    run.add_argument("--bidirectional", action="store_true", default=None, help="bidirectional encoder")
    run.add_argument(
        "--wandb", action="store_true", default=None, help="log to W&B (offline unless logged in)"
    )
    run.add_argument("--config", help="flat YAML file of overrides (unknown keys are errors)")
    sweep = sub.add_parser("sweep", help="run every cell of a suite that has no finished record")
    sweep.add_argument("suite", help="suite name (configs/suites/NAME.yaml) or a .yaml path")
    sweep.add_argument(
        "--jobs", type=int, default=1, help="cells run at once (one GPU each when there are GPUs)"
    )
    sweep.add_argument(
        "--retry-failed", action="store_true", help="also rerun cells whose record is 'failed'"
    )
    sweep.add_argument("--wandb", action="store_true", help="log every run to W&B (offline unless logged in)")
    sweep.add_argument("--cell", type=int, help="run only cell K of the suite (what a W&B sweep agent calls)")
    sweep.add_argument(
        "--wandb-sweep",
        action="store_true",
        help="write a W&B sweep over the cells (created when logged in) for agents on any machine",
    )
    table = sub.add_parser("table", help="aggregate a suite's records into the results table")
    table.add_argument("suite")
    table.add_argument("--format", choices=["terminal", "md", "csv", "html"], default="terminal")
    table.add_argument(
        "--output", help="write to this file instead of standard output (html: default <out>/table.html)"
    )
    board = sub.add_parser("board", help="log the suite's aggregated table to W&B as the leaderboard")
    board.add_argument("suite")
    repro = sub.add_parser(
        "reproduce", help="rerun a suite into a fresh folder and compare with results/SUITE"
    )
    repro.add_argument("suite")
    repro.add_argument("--jobs", type=int, default=1)
    repro.add_argument("--reference", help="reference CSV (default results/SUITE/table.csv)")
    for p in (sweep, table, board, repro):
        p.add_argument(
            "--out", help="folder of the suite's records (default sweeps/SUITE; reproduce: a new one)"
        )
    gen = sub.add_parser("generate", help="sample text from a finished language-model run")
    gen.add_argument("run", help="a run's record (.json) or checkpoint (.ckpt)")
    gen.add_argument("--prompt", default="", help="text to continue (default: start of a line)")
    gen.add_argument("--length", type=int, default=300, help="tokens to generate (characters at char level)")
    gen.add_argument("--temperature", type=float, default=0.8, help="softmax temperature; 0 = greedy")
    gen.add_argument("--seed", type=int, default=None, help="random seed for a reproducible sample")
    sub.add_parser("tasks", help="list registered tasks and their datasets")
    sub.add_parser("models", help="list registered models")
    return parser


def cmd_run(args, extras) -> int:
    from bench.config import resolve
    from bench.runner import run

    overrides = {k: v for k, v in vars(args).items() if k not in ("command", "config")}
    cfg = resolve({**overrides, **parse_extras(extras)}, args.config)
    record, path = run(cfg)
    if path is None:  # a DDP rank other than 0: rank 0 reports
        return 0
    status = record["status"]
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in record["metrics"].items() if k.startswith("test/"))
    print(
        f"status: {status}"
        + (f" ({record['reason']})" if record["reason"] else "")
        + (f"; {metrics}" if metrics else "")
    )
    if record.get("checkpoint"):
        print(f"checkpoint: {record['checkpoint']}")
    if record.get("wandb"):
        from bench.tracking import sync_hint

        print(sync_hint(record["wandb"]))
    print(f"record: {path}")
    if status == "failed":
        print(f"error: {record['reason']}", file=sys.stderr)
        return 1
    return 0


def cmd_tasks(args, extras) -> int:
    import tasks

    for name in tasks.names():
        t = tasks.get(name)
        direction = "higher" if t.higher_is_better else "lower"
        names = ", ".join(d + (" (default)" if d == t.default_dataset else "") for d in t.datasets)
        print(
            f"{name:10s} {t.description}; datasets: {names}; primary: {t.primary_metric} ({direction} is better)"
        )
    return 0


def cmd_models(args, extras) -> int:
    import models

    for name in models.names():
        print(f"{name:10s} {models.DESCRIPTIONS[name]}")
    return 0


def cmd_sweep(args, extras) -> int:
    from bench.suites import load_suite
    from bench.sweep import sweep

    if args.jobs < 1:
        raise BenchError(f"--jobs must be at least 1, got {args.jobs}")
    suite = load_suite(args.suite, args.out)
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
    counts = sweep(suite, args.jobs, args.retry_failed, args.wandb)
    print(", ".join(f"{k}: {v}" for k, v in counts.items()))
    print(
        f"records: {suite.cells[0].cfg.out}\ntable: python -m bench table {args.suite}"
        + (f" --out {args.out}" if args.out else "")
    )
    return 1 if counts.get("failed") else 0


def cmd_table(args, extras) -> int:
    from pathlib import Path

    from bench import table
    from bench.suites import load_suite

    suite = load_suite(args.suite, args.out)
    groups = table.collect(suite)
    if args.format == "terminal" and not args.output:
        table.print_terminal(suite, groups)
        return 0
    if args.format == "html":
        from bench.report import to_html

        text = to_html(suite, groups)
        args.output = args.output or str(Path(suite.cells[0].cfg.out) / "table.html")
    else:
        text = {"md": table.to_markdown, "csv": table.to_csv, "terminal": table.to_markdown}[args.format](
            suite, groups
        )
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text)
        print(f"table: {args.output}")
    else:
        print(text, end="")
    return 0


def cmd_board(args, extras) -> int:
    from bench import table
    from bench.board import board
    from bench.suites import load_suite
    from bench.tracking import sync_hint

    suite = load_suite(args.suite, args.out)
    folder = board(suite, table.collect(suite), suite.cells[0].cfg.out)
    print(sync_hint(folder))
    return 0


def cmd_reproduce(args, extras) -> int:
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from bench import reproduce, table
    from bench.suites import load_suite
    from bench.sweep import sweep

    suite = load_suite(args.suite)
    ref_path = Path(args.reference) if args.reference else reproduce.reference_path(suite)
    if not ref_path.is_file():
        raise BenchError(
            f"no reference table at {ref_path}; make one with "
            f"`python -m bench table {args.suite} --format csv --output {ref_path}`"
        )
    suite = load_suite(args.suite, args.out or reproduce.fresh_folder(suite))
    counts = sweep(suite, args.jobs)
    new = table.to_csv(suite, table.collect(suite))
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
    return 0 if ok else 1


def cmd_generate(args, extras) -> int:
    from bench.generate import cmd_generate

    return cmd_generate(args, extras)


COMMANDS = {
    "run": cmd_run,
    "generate": cmd_generate,
    "sweep": cmd_sweep,
    "table": cmd_table,
    "board": cmd_board,
    "reproduce": cmd_reproduce,
    "tasks": cmd_tasks,
    "models": cmd_models,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    try:
        return COMMANDS[args.command](args, extras)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
