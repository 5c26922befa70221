"""Suites: YAML grids of tasks x datasets x models x clip settings x seeds, expanded into run cells.

A suite file (bench/configs/suites/<name>.yaml) holds `models`, `clips`, `seeds`, optional `common` overrides for
every cell, `tasks` (task -> `datasets` plus that task's overrides; a list-valued override becomes one more
grid axis, e.g. `seq_len: [50, 200]`; `datasets` may map each dataset to its own overrides, and a task may map
to a list of such entries, each with a `label` that names its rows, e.g. a second FSDD row trained to
explode; an entry's own `models` or `clips` replace the suite's for its rows), optional per-model
`overrides` (task -> model -> overrides, e.g. `overrides: {lm: {gru: {lr: 0.002}}}`: a learning rate tuned
for each cell instead of one architecture's; an entry's own `overrides: {model: {...}}` add to them for its rows,
e.g. a hidden size per model that meets that row's parameter budget), optional `tune` (bench.tuning), optional
`findings` (bench.findings) and `published` figures (bench.literature), and optional `tolerances` for
`bench reproduce`.

run: python -c "from bench.suites import load_suite; print(len(load_suite('ci').cells))"
"""

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from bench import literature, tasks
from bench.base.errors import BenchError
from bench.checks import read_mapping, yaml_line
from bench.config import CONFIG_DIR, RunConfig, resolve
from bench.findings import check_spec
from bench.tuning import check_tune, choose, points

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
    "tune",
    "published",
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
    published: list = field(default_factory=list)  # figures from papers beside the cells (bench.literature)
    trials: list[Cell] = field(default_factory=list)  # tuning runs (bench.tuning), run before the cells
    choices: dict = field(default_factory=dict)  # (row, col) -> the tuning.Choice its cells run at
    untuned: list = field(default_factory=list)  # (row, col) whose trials have not all finished: no cells yet

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
    tune = check_tune(spec.get("tune"), seeds, where)
    per_model = spec.get("overrides") or {}
    every_model = list(models)  # the suite's models and those an entry names for its own rows
    for entry in spec["tasks"].values():
        for variant in entry if isinstance(entry, list) else [entry]:
            every_model += _as_list((variant or {}).get("models", models), "models", where)
    models_named = list(dict.fromkeys(every_model))
    for task, by_model in per_model.items():
        if task not in spec["tasks"]:
            raise bad(f"overrides for task '{task}', which the suite does not run", "overrides", task)
        for model, values in (by_model or {}).items() if isinstance(by_model, dict) else [(None, by_model)]:
            if model not in models_named or not isinstance(values, dict):
                raise bad(
                    f"overrides for task '{task}' must map each of its models ({', '.join(models_named)}) to a "
                    f"mapping of key: value, got {model!r}: {values!r}",
                    "overrides",
                    task,
                )
    out = out or str(Path("sweeps") / suite.name)
    for task, entry in spec["tasks"].items():
        grid = (models, clips, seeds, common, per_model.get(task) or {}, out, tune)
        rows = []
        for variant in entry if isinstance(entry, list) else [entry]:
            variant = dict(variant or {})
            label = str(variant.pop("label", ""))
            own = (
                _as_list(variant.pop("models", models), "models", where),
                _as_list(variant.pop("clips", clips), "clips", where),
            )
            own_tune = (
                check_tune(variant.pop("tune"), seeds, f"{where}, task {task}") if "tune" in variant else tune
            )
            mine = variant.pop("overrides", None) or {}
            if not isinstance(mine, dict) or not all(
                m in own[0] and isinstance(v, dict) for m, v in mine.items()
            ):
                raise bad(
                    f"task '{task}': an entry's 'overrides' must map its models ({', '.join(own[0])}) to a mapping "
                    f"of key: value, got {mine!r}",
                    "tasks",
                    task,
                )
            shared = grid[4]
            per_model_here = {m: {**shared.get(m, {}), **mine.get(m, {})} for m in {*shared, *mine}}
            entry_grid = (*own, *grid[2:4], per_model_here, grid[5], own_tune)
            for dataset, values in _datasets(variant.pop("datasets", [""]), f"{where}, task {task}"):
                rows += _expand(suite, task, label, dataset, {**variant, **values}, entry_grid)
        twice = next((r for r in rows if rows.count(r) > 1), None)
        if twice:
            raise bad(f"two entries give the row '{twice}'; give each a different 'label'", "tasks", task)
    if "published" in spec:
        runs = [*suite.trials, *suite.cells]  # a tuned row has trials before it has cells
        rows = {c.row: (set(), tasks.get(c.cfg.task).primary_metric) for c in runs}
        for c in runs:
            rows[c.row][0].add(c.cfg.model)
        suite.published = literature.check_spec(spec["published"], rows, where)
    return suite


def _datasets(value, where: str) -> list[tuple[str, dict]]:
    """`datasets` as (dataset, its own overrides): a list (or one name) shares the entry's overrides."""
    if isinstance(value, dict):
        if not value:
            raise BenchError(f"'datasets' in {where} is empty; name at least one dataset")
        bad = next((k for k, v in value.items() if not isinstance(v or {}, dict)), None)
        if bad is not None:
            raise BenchError(f"{where}: dataset '{bad}' must map to its overrides, got {value[bad]!r}")
        return [(k, dict(v or {})) for k, v in value.items()]
    return [(d, {}) for d in _as_list(value, "datasets", where)]


def _expand(suite: Suite, task: str, label: str, dataset: str, entry: dict, grid: tuple) -> list[str]:
    """One dataset's cells: every point of the entry's list-valued axes x models x clips x seeds; returns the
    rows made. Where the suite tunes, each (row, column) gets its trials, and its cells once they all ran."""
    models, clips, seeds, common, per_model, out, tune = grid
    axes = {k: v for k, v in entry.items() if isinstance(v, list)}
    if empty := next((k for k, v in axes.items() if not v), None):  # an empty axis would make no cell at all
        raise BenchError(
            f"suite {suite.path}, task {task}: '{empty}' is an empty list; give it at least one value"
        )
    fixed = {k: v for k, v in entry.items() if not isinstance(v, list)}
    rows = []

    def cell(overrides: dict, col: str) -> Cell:
        try:
            cfg = resolve(overrides)
        except BenchError as e:
            raise BenchError(f"suite {suite.path}, task {task}: {e}") from None
        labels = [*([label] if label else []), *(f"{k}={v}" for k, v in point.items())]
        return Cell(cfg, overrides, " ".join([f"{task}/{cfg.dataset}", *labels]), col)

    for values in itertools.product(*axes.values()):
        point = dict(zip(axes, values, strict=True))
        for model, clip in itertools.product(models, clips):
            base = {
                **common,
                **fixed,
                **point,
                **per_model.get(model, {}),
                "task": task,
                "model": model,
                "clip": clip,
                "out": out,
                **({"dataset": dataset} if dataset else {}),
            }
            col = f"{model} {clip}"
            setting = {}
            if tune:
                tried = [
                    (p, [cell({**base, **p, "seed": s}, col) for s in tune["seeds"]]) for p in points(tune)
                ]
                suite.trials += [c for _, cells in tried for c in cells]
                row = tried[0][1][0].row
                kind = tasks.get(task)
                choice = choose(tried, kind.higher_is_better, f"val/{kind.primary_metric}")
                if choice is None:
                    suite.untuned.append((row, col))
                    continue
                suite.choices[(row, col)] = choice
                setting = choice.setting
            suite.cells += [cell({**base, **setting, "seed": seed}, col) for seed in seeds]
            row = suite.cells[-1].row
        rows.append(row)
    return rows
