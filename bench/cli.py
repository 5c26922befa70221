"""Command line: python -m bench {run, sweep, table, board, reproduce, generate, tasks, models, doctor} ...

run: python -m bench run --task speech --model lstm --clip norm:1.0
"""

import argparse
import dataclasses
import importlib
import re
import sys

from bench.base.errors import BenchError
from bench.base.options import flag_help


def run_fields() -> list:
    """The RunConfig fields that are `bench run` flags (all but the task's options), with their declarations."""
    from bench.config import NOT_FLAGS, RunConfig

    return [f for f in dataclasses.fields(RunConfig) if f.name not in NOT_FLAGS]


def task_options_help() -> str:
    from bench import tasks
    from bench.base.options import describe

    lines = ["task options (pass as --name value; also accepted as keys in --config FILE):"]
    for name in tasks.names():
        task = tasks.get(name)
        lines.append(f"  {name}: datasets {', '.join(task.datasets)}")
        lines.append(describe(task.Options) or "    (no options)")
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


MAX_LINE = 2000  # characters of an error line: a huge bad value is named, not printed whole


def one_line(text: str) -> str:
    """`text` with control characters escaped, so a bad value holding a newline cannot split the error line,
    and cut to MAX_LINE characters, so a huge one cannot flood the terminal."""
    text = re.sub(r"[\x00-\x1f\x7f\x85\u2028\u2029]", lambda m: repr(m.group())[1:-1], text)
    return text if len(text) <= MAX_LINE else f"{text[:MAX_LINE]}... ({len(text) - MAX_LINE} more characters)"


class Parser(argparse.ArgumentParser):
    """argparse with the house error format: one line on stderr (no usage block), exit code 2."""

    def error(self, message: str):
        self.exit(2, one_line(f"error: {message}; see `{self.prog} --help`") + "\n")

    # a function whose text ends --help, called only when help is shown (it may import the tasks)
    help_tail = None

    def format_help(self) -> str:
        text = super().format_help()
        return f"{text}\n{self.help_tail()}\n" if self.help_tail else text


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="bench", description="seqbench: recurrent sequence model benchmarks")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        allow_abbrev=False,  # else argparse reads a task option such as --mode as an abbreviation of --model
        help="train and test one configuration, write its record",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.help_tail = task_options_help
    for f in run_fields():  # flags, their help and their types from RunConfig's declarations
        flag, text = f"--{f.name.replace('_', '-')}", flag_help(f).replace("%", "%%")
        if f.type is bool:
            run.add_argument(flag, dest=f.name, action="store_true", default=None, help=text)
        else:
            run.add_argument(flag, dest=f.name, type=f.type, help=text)
    run.add_argument("--config", help="flat YAML file of overrides (unknown keys are errors)")
    sweep = sub.add_parser("sweep", help="run every cell of a suite that has no finished record")
    sweep.add_argument("suite", help="suite name (bench/configs/suites/NAME.yaml) or a .yaml path")
    sweep.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="cells run at once (slots take the GPUs round-robin: more jobs than GPUs share them)",
    )
    sweep.add_argument(
        "--retry-failed", action="store_true", help="also rerun cells whose record is 'failed'"
    )
    sweep.add_argument(
        "--cold",
        action="store_true",
        help="start each cell as a new interpreter instead of forking it from the warm worker (bench.worker)",
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
        "--layout",
        choices=["auto", "wide", "long"],
        default="auto",
        help="terminal: the pivot (wide), one line per cell (long), or the pivot where it fits (auto)",
    )
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
    sub.add_parser("doctor", help="load every compiled extension, show versions, hardware and data found")
    return parser


def cmd_run(args, extras) -> int:
    from bench import tasks
    from bench.checks import check_accelerator, make_out
    from bench.config import resolve
    from bench.hardware import rnn_kernel
    from bench.locks import CellBusy, run_lock
    from bench.records import Status, record_paths
    from bench.runner import run

    overrides = {k: v for k, v in vars(args).items() if k not in ("command", "config")}
    cfg = resolve({**overrides, **parse_extras(extras)}, args.config)
    check_accelerator(cfg.accelerator)
    # a wheel the task needs that does not load: the doctor's line (main), before anything is written
    for name in tasks.get(cfg.task).extensions:
        importlib.import_module(name)
    # a precision that no kernel here can run stops with one line before any work
    rnn_kernel(cfg.model, cfg.accelerator, cfg.precision)
    make_out(cfg.out)
    try:
        with run_lock(record_paths(cfg)[0]):
            record, path = run(cfg)
    except CellBusy as e:
        raise BenchError(
            f"this config is already being run ({e}); wait for it, or pass another --out"
        ) from None
    if path is None:  # a DDP rank other than 0: rank 0 reports
        return 0
    status = record.status
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in record.metrics.items() if k.startswith("test/"))
    # a failed run's reason goes to stderr, once
    reason = f" ({record.reason})" if record.reason and status != Status.FAILED else ""
    print(f"status: {status}{reason}" + (f"; {metrics}" if metrics else ""))
    if record.checkpoint:
        print(f"checkpoint: {record.checkpoint}")
    if record.wandb:
        from bench.tracking import sync_hint

        print(sync_hint(record.wandb))
    print(f"record: {path}")
    if status == Status.FAILED:
        print(f"error: {record.reason}", file=sys.stderr)
        return 1
    return 130 if status == Status.INTERRUPTED else 0


def cmd_tasks(args, extras) -> int:
    from bench import tasks
    from bench.base.registry import BUILTIN

    for name, origin in tasks.REGISTRY.origins().items():
        t = tasks.get(name)
        direction = "higher" if t.higher_is_better else "lower"
        names = ", ".join(d + (" (default)" if d == t.default_dataset else "") for d in t.datasets)
        print(
            f"{name:10s} {t.description}; datasets: {names}; primary: {t.primary_metric} ({direction} is better)"
            + ("" if origin == BUILTIN else f"; from {origin}")
        )
    return 0


def cmd_models(args, extras) -> int:
    from bench import models
    from bench.base.registry import BUILTIN

    origins = models.REGISTRY.origins()
    width = max(map(len, origins))
    for name, origin in origins.items():
        spec = models.spec(name)
        paper = f" [{spec.paper}]" if spec.paper else ""
        print(
            f"{name:{width}s} {spec.description}{paper}" + ("" if origin == BUILTIN else f"; from {origin}")
        )
    return 0


def cmd_table(args, extras) -> int:
    from pathlib import Path

    from bench import table
    from bench.suites import load_suite

    suite = load_suite(args.suite, args.out)
    groups = table.collect(suite)
    if args.format == "terminal" and not args.output:
        from bench.terminal import print_grids

        print_grids(table.grids(suite, groups), args.layout)
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


def cmd_sweep(args, extras) -> int:
    from bench.cli_sweep import cmd_sweep

    return cmd_sweep(args, extras)


def cmd_reproduce(args, extras) -> int:
    from bench.cli_sweep import cmd_reproduce

    return cmd_reproduce(args, extras)


def cmd_generate(args, extras) -> int:
    from bench.generate import cmd_generate

    return cmd_generate(args, extras)


def cmd_doctor(args, extras) -> int:
    from bench.doctor import cmd_doctor

    return cmd_doctor(args, extras)


COMMANDS = {
    "run": cmd_run,
    "generate": cmd_generate,
    "sweep": cmd_sweep,
    "table": cmd_table,
    "board": cmd_board,
    "reproduce": cmd_reproduce,
    "tasks": cmd_tasks,
    "models": cmd_models,
    "doctor": cmd_doctor,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        parser = build_parser()  # the run flags come from RunConfig, whose module imports the tasks
        args, extras = parser.parse_known_args(argv)
        if extras and args.command != "run":
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
        return COMMANDS[args.command](args, extras)
    except BenchError as e:
        print(one_line(f"error: {e}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C outside a run (a run records itself as interrupted)
        print("error: interrupted", file=sys.stderr)
        return 130
    except (ImportError, OSError) as e:  # a compiled extension that does not load: the doctor's line
        from bench.doctor import cmd_doctor, explain

        if (line := explain(e)) is None:
            raise
        if argv[:1] == ["doctor"]:  # the flags list the tasks, which failed to import: the doctor says why
            return cmd_doctor(None, [])
        print(one_line(f"error: {line}"), file=sys.stderr)
        return 1
