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
    "lr": (float, "learning rate (Adam)"),
    "weight_decay": (float, "weight decay"),
    "hidden_size": (int, "recurrent hidden size"),
    "num_layers": (int, "stacked recurrent layers"),
    "dropout": (float, "dropout between layers and before the head"),
    "recurrent_init_scale": (float, "scale of the orthogonal hidden-to-hidden init (>1 explodes)"),
    "devices": (int, "devices to train on"),
    "accelerator": (str, "auto | cpu | gpu"),
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
        help="train and test one configuration, write its record",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=task_options_help(),
    )
    for name, (kind, text) in RUN_FLAGS.items():
        run.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, help=text)
    run.add_argument("--bidirectional", action="store_true", default=None, help="bidirectional encoder")
    run.add_argument("--config", help="flat YAML file of overrides (unknown keys are errors)")
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
    status = record["status"]
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in record["metrics"].items() if k.startswith("test/"))
    print(
        f"status: {status}"
        + (f" ({record['reason']})" if record["reason"] else "")
        + (f"; {metrics}" if metrics else "")
    )
    if record.get("checkpoint"):
        print(f"checkpoint: {record['checkpoint']}")
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


def cmd_generate(args, extras) -> int:
    from bench.generate import cmd_generate

    return cmd_generate(args, extras)


COMMANDS = {"run": cmd_run, "tasks": cmd_tasks, "models": cmd_models, "generate": cmd_generate}


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
