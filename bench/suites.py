"""Suites: YAML grids of tasks x datasets x models x clip settings x seeds, expanded into run cells.

A suite file (bench/configs/suites/<name>.yaml) holds `models`, `clips`, `seeds`, optional `common` overrides for
every cell, `tasks` (task -> `datasets` plus that task's overrides; a list-valued override becomes one more
grid axis, e.g. `seq_len: [50, 200]`; `datasets` may map each dataset to its own overrides, and a task may map
to a list of such entries, each with a `label` that names its rows, e.g. a second FSDD row trained to
explode), optional per-model `overrides` (task -> model -> overrides, e.g.
`overrides: {lm: {gru: {lr: 0.002}}}`: a learning rate tuned for each cell instead of one architecture's)
and optional `tolerances` for `bench reproduce`.

run: python -c "from bench.suites import load_suite; print(len(load_suite('ci').cells))"
"""

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from bench.base.errors import BenchError
from bench.checks import read_mapping, yaml_line
from bench.config import CONFIG_DIR, RunConfig, resolve
from bench.findings import check_spec

SUITE_DIR = CONFIG_DIR / "suites"
SUITE_KEYS = (
    "description",
    "models",
    "clips",
    "seeds",
    "common",
    "tasks",
    "overrides",
    "tolerances",
    "findings",
)


@dataclass
class Cell:
    """One run of a suite; `row` and `col` place it in the results table, seeds are aggregated."""

    cfg: RunConfig
    overrides: dict
    row: str  # task/dataset plus any extra grid axes, e.g. "probes/adding seq_len=200"
    col: str  # model clip, e.g. "lstm norm:1.0"


@dataclass
class Suite:
    name: str
    path: Path
    description: str = ""
    cells: list[Cell] = field(default_factory=list)
    tolerances: dict = field(default_factory=dict)
    findings: list = field(default_factory=list)  # the direction of each row's story (bench.findings)

    def rows(self) -> list[str]:
        return list(dict.fromkeys(c.row for c in self.cells))

    def cols(self) -> list[str]:
        return list(dict.fromkeys(c.col for c in self.cells))


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITE_DIR.glob("*.yaml"))


def _as_list(value, key: str, where: str) -> list:
    if isinstance(value, list) and value:
        return value
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return [value]
    raise BenchError(f"'{key}' in {where} must be a value or a non-empty list, got {value!r}")


def load_suite(name: str, out: str | None = None) -> Suite:
    """Read and expand a suite; every cell is resolved up front so a typo fails before anything runs."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else SUITE_DIR / f"{name}.yaml"
    if not path.is_file():
        raise BenchError(
            f"unknown suite '{name}'; valid: {', '.join(suite_names())} (or a path to a .yaml file)"
        )
    spec, text = read_mapping(path, "suite")

    def bad(message: str, *keys) -> BenchError:
        line = yaml_line(text, list(keys)) if keys else None
        return BenchError(f"suite {path}{f' line {line}' if line else ''}: {message}")

    unknown = sorted(set(spec) - set(SUITE_KEYS))
    if unknown:
        raise bad(f"unknown key '{unknown[0]}'; valid: {', '.join(SUITE_KEYS)}", unknown[0])
    if not isinstance(spec.get("tasks"), dict) or not spec["tasks"]:
        raise bad("needs a 'tasks' mapping (task -> datasets and overrides)", "tasks")
    for key in ("common", "tolerances", "overrides"):
        if not isinstance(spec.get(key) or {}, dict):
            raise bad(f"'{key}' must be a mapping of key: value, got {type(spec[key]).__name__}", key)
    for task, entry in spec["tasks"].items():
        entries = entry if isinstance(entry, list) else [entry]
        if not entries or not all(isinstance(e or {}, dict) for e in entries):
            raise bad(
                f"task '{task}' must map to its datasets and overrides (or to a list of such mappings, each "
                f"with a label), got {entry!r}",
                "tasks",
                task,
            )
    suite = Suite(path.stem, path, spec.get("description", ""), tolerances=spec.get("tolerances") or {})
    where = f"suite {path}"
    suite.findings = check_spec(spec.get("findings") or [], where)
    models = _as_list(spec.get("models", ["rnn", "lstm", "gru"]), "models", where)
    clips = _as_list(spec.get("clips", ["none"]), "clips", where)
    seeds = _as_list(spec.get("seeds", [0]), "seeds", where)
    common = spec.get("common") or {}
    per_model = spec.get("overrides") or {}
    for task, by_model in per_model.items():
        if task not in spec["tasks"]:
            raise bad(f"overrides for task '{task}', which the suite does not run", "overrides", task)
        for model, values in (by_model or {}).items() if isinstance(by_model, dict) else [(None, by_model)]:
            if model not in models or not isinstance(values, dict):
                raise bad(
                    f"overrides for task '{task}' must map each of its models ({', '.join(models)}) to a "
                    f"mapping of key: value, got {model!r}: {values!r}",
                    "overrides",
                    task,
                )
    out = out or str(Path("sweeps") / suite.name)
    for task, entry in spec["tasks"].items():
        grid = (models, clips, seeds, common, per_model.get(task) or {}, out)
        rows = []
        for variant in entry if isinstance(entry, list) else [entry]:
            variant = dict(variant or {})
            label = str(variant.pop("label", ""))
            for dataset, values in _datasets(variant.pop("datasets", [""]), f"{where}, task {task}"):
                rows += _expand(suite, task, label, dataset, {**variant, **values}, grid)
        twice = next((r for r in rows if rows.count(r) > 1), None)
        if twice:
            raise bad(f"two entries give the row '{twice}'; give each a different 'label'", "tasks", task)
    return suite


def _datasets(value, where: str) -> list[tuple[str, dict]]:
    """`datasets` as (dataset, its own overrides): a list (or one name) shares the entry's overrides."""
    if isinstance(value, dict):
        bad = next((k for k, v in value.items() if not isinstance(v or {}, dict)), None)
        if bad is not None:
            raise BenchError(f"{where}: dataset '{bad}' must map to its overrides, got {value[bad]!r}")
        return [(k, dict(v or {})) for k, v in value.items()]
    return [(d, {}) for d in _as_list(value, "datasets", where)]


def _expand(suite: Suite, task: str, label: str, dataset: str, entry: dict, grid: tuple) -> list[str]:
    """One dataset's cells: every point of the entry's list-valued axes x models x clips x seeds; returns the
    rows made."""
    models, clips, seeds, common, per_model, out = grid
    axes = {k: v for k, v in entry.items() if isinstance(v, list)}
    fixed = {k: v for k, v in entry.items() if not isinstance(v, list)}
    rows = []
    for values in itertools.product(*axes.values()):
        point = dict(zip(axes, values, strict=True))
        for model, clip, seed in itertools.product(models, clips, seeds):
            overrides = {
                **common,
                **fixed,
                **point,
                **per_model.get(model, {}),
                "task": task,
                "model": model,
                "clip": clip,
                "seed": seed,
                "out": out,
                **({"dataset": dataset} if dataset else {}),
            }
            try:
                cfg = resolve(overrides)
            except BenchError as e:
                raise BenchError(f"suite {suite.path}, task {task}: {e}") from None
            row = " ".join(
                [
                    f"{task}/{cfg.dataset}",
                    *([label] if label else []),
                    *(f"{k}={v}" for k, v in point.items()),
                ]
            )
            suite.cells.append(Cell(cfg, overrides, row, f"{model} {clip}"))
        rows.append(row)
    return rows
