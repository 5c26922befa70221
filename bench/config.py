"""Run configuration: typed dataclass defaults, flat YAML overrides, unknown keys rejected, a stable hash.

Resolution order (later wins): RunConfig defaults < task option defaults < bench/configs/<task>.yaml
< --config FILE < command-line flags.

run: python -c "from bench.config import resolve; print(resolve({'task': 'speech', 'model': 'gru'}))"
"""

import dataclasses
import functools
import hashlib
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

from bench import models, optim
from bench.base.errors import BenchError
from bench.base.options import check_declared, option
from bench.base.registry import BUILTIN
from bench.checks import SEED_MAX, check_out, read_mapping, yaml_line

CONFIG_DIR = Path(__file__).resolve().parent / "configs"  # package data: found in a wheel as in a checkout


def _strategies() -> list[str]:
    from pytorch_lightning.strategies import StrategyRegistry  # read when checked: a slow import

    return ["auto", *StrategyRegistry.available_strategies()]


# what --help says instead of listing the registry, so that building the CLI does not import Lightning
_strategies.described = "one of auto | ddp | ddp_spawn | fsdp | ... (Lightning's StrategyRegistry)"


def _tasks():
    """The task registry, imported on first use: building the CLI's flags loads no task module (and none of
    the compiled extensions a task needs, which `bench doctor` must be able to report on)."""
    from bench import tasks

    return tasks


@dataclass
class RunConfig:
    """Hyper-parameters every task shares, each declared with its help and rule (bench.base.options: one
    validator checks them, `bench run --help` prints them); task-specific ones are the task's `Options`."""

    task: str = option("speech", "task family (see `bench tasks`), or a plugin's package.module:Class")
    dataset: str = option("", "dataset of the task (empty: the task's default; see `bench tasks`)")
    model: str = option("lstm", "model (see `bench models`), or a plugin's package.module:attribute")
    clip: str = option("none", "gradient clipping: none | norm:<max> | value:<max>, max > 0")
    seed: int = option(0, "random seed", least=0, below=SEED_MAX + 1)
    max_epochs: int = option(30, "maximum training epochs", positive=True)
    max_minutes: float = option(0.0, "wall-clock training budget in minutes; 0 = none", least=0)
    patience: int = option(
        8, "early-stopping patience in epochs on the primary validation metric", positive=True
    )
    batch_size: int = option(32, "the global batch: split evenly over devices x num_nodes", positive=True)
    lr: float = option(2e-3, "learning rate", positive=True)
    weight_decay: float = option(0.0, "weight decay", least=0)
    hidden_size: int = option(128, "recurrent hidden size", positive=True)
    num_layers: int = option(1, "stacked recurrent layers", positive=True)
    dropout: float = option(0.0, "dropout between layers and before the head", least=0, below=1)
    bidirectional: bool = option(False, "bidirectional encoder")
    recurrent_init_scale: float = option(
        1.0, "scale of the orthogonal hidden-to-hidden init (>1 explodes)", least=0
    )
    norm_layer: str = option(
        "none",
        "none: the fused cuDNN/oneDNN cells; layer: Ba et al. 2016; batch: lstm only, Cooijmans et al. 2017",
        choices=lambda: list(models.NORM_LAYERS),
    )
    checkpoint_segments: int = option(
        0, "K > 1: keep K segment states, recompute the steps in backward (exact, less memory)", least=0
    )
    optimizer: str = option(
        "adam", "optimizer (bench/optim.py)", choices=lambda: optim.names(optim.OPTIMIZERS)
    )
    momentum: float = option(0.0, "SGD momentum (sgd only)", least=0)
    schedule: str = option(
        "plateau",
        "lr schedule; plateau halves after 3 flat epochs",
        choices=lambda: optim.names(optim.SCHEDULES),
    )
    warmup_steps: int = option(0, "linear lr warm-up over the first N optimizer steps", least=0)
    devices: int = option(1, "devices per node (DDP: one process each)", positive=True)
    num_nodes: int = option(1, "machines (with torchrun or SLURM)", positive=True)
    strategy: str = option("auto", "Lightning strategy", choices=_strategies)
    accelerator: str = option("auto", "where to train", choices=("auto", "cpu", "gpu", "cuda", "mps"))
    precision: str = option("32", "training precision", choices=("32", "bf16-mixed", "16-mixed"))
    matmul_precision: str = option(
        "highest",
        "float32 matmuls and cuDNN: highest (exact fp32) | high, medium (TF32 on GPUs)",
        choices=("highest", "high", "medium"),
    )
    threads: int = option(
        0, "torch CPU threads; 0 = the faster of 1 and the usable cores, timed at the start", least=0
    )
    out: str = option("runs", "folder for records, checkpoints and plots")
    wandb: bool = option(False, "log to Weights & Biases (offline unless logged in)")
    wandb_project: str = option("seqbench", "W&B project")
    options: Any = field(default_factory=dict)  # the task's Options (a dict only in a bare RunConfig())
    # "model" / "task" -> the distribution and version (or file and digest) of a plugin's code; set by resolve,
    # never by the user, and hashed: a new version of the plugin is a new run
    plugins: dict[str, str] = field(default_factory=dict)

    @property
    def world_size(self) -> int:
        """Training processes: devices x nodes; batch_size is split evenly over them."""
        return self.devices * self.num_nodes

    @functools.cached_property
    def clipping(self) -> "Clip":
        """`clip` parsed once: (limit, algorithm), both None for none."""
        return parse_clip(self.clip)


# Keys that change where or how fast a run happens but not its result; left out of the run's hash.
NOT_HASHED = ("out", "devices", "num_nodes", "strategy", "accelerator", "threads", "wandb", "wandb_project")
# Fields added after records existed: hashed only when they differ from their default, so every earlier
# config keeps its hash (and its record, its sweep cell and its place in a reference table).
LATER_FIELDS = (
    "matmul_precision",
    "norm_layer",
    "checkpoint_segments",
    "optimizer",
    "momentum",
    "schedule",
    "warmup_steps",
    "plugins",
)
# RunConfig fields that are not flags or config keys: the task's options (flat keys of their own) and plugins.
NOT_FLAGS = ("options", "plugins")


class Clip(NamedTuple):
    limit: float | None  # None: no clipping
    algo: str | None  # "norm" | "value" | None


def parse_clip(clip: str) -> Clip:
    """'none' -> (None, None); 'norm:1.0' -> (1.0, 'norm'); 'value:0.5' -> (0.5, 'value')."""
    if clip == "none":
        return Clip(None, None)
    algo, _, value = clip.partition(":")
    try:
        limit = float(value)
    except ValueError:
        limit = float("nan")
    if algo not in ("norm", "value") or not (limit > 0 and math.isfinite(limit)):
        raise BenchError(
            f"bad clip setting '{clip}'; valid: none, norm:<max>, value:<max> with max > 0 "
            "(for example norm:1.0)"
        )
    return Clip(limit, algo)


def read_yaml(path: Path) -> dict:
    """A flat YAML mapping; one-line errors for a missing file, bad syntax (with its line) or a non-mapping."""
    if not path.is_file():
        raise BenchError(f"config file '{path}' not found")
    return read_mapping(path)[0]


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Convert a value (from YAML or a command-line string) to the type of the key's default."""
    kind = type(default)
    try:
        if isinstance(value, bool) and kind is not bool:  # YAML `hidden_size: true` is not the number 1
            raise ValueError
        if kind is bool and isinstance(value, str):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return value.lower() in ("true", "1", "yes")
        if kind is float and isinstance(value, int | float | str):
            return float(value)
        if kind is int and isinstance(value, str | int) and not isinstance(value, bool):
            return int(value)
        if kind is str and isinstance(value, str | int | float):
            return str(value)
        if isinstance(value, kind):
            return value
    except ValueError:
        pass
    raise BenchError(f"bad value for '{key}': {value!r} (expected {kind.__name__})")


def resolve(overrides: dict, config_file: str | None = None) -> RunConfig:
    """Merge defaults, task defaults, files and overrides into a validated RunConfig."""
    layers = [read_yaml(Path(config_file))] if config_file else []
    files = {id(layer): Path(config_file) for layer in layers}  # layer -> its file, for errors with a line
    layers.append({k: v for k, v in overrides.items() if v is not None})
    task_name = next((layer["task"] for layer in reversed(layers) if "task" in layer), RunConfig.task)
    task = _tasks().get(_coerce("task", task_name, RunConfig.task))
    task_file = CONFIG_DIR / f"{task.name}.yaml"
    if task_file.is_file():
        layers.insert(0, read_yaml(task_file))
        files[id(layers[0])] = task_file

    base = RunConfig()
    top = {f.name: getattr(base, f.name) for f in fields(RunConfig) if f.name not in NOT_FLAGS}
    opts = dataclasses.asdict(task.Options())
    for layer in layers:
        for key, value in layer.items():
            try:
                _merge(key, value, top, opts, task.name, layers)
            except BenchError as e:
                raise located(e, files.get(id(layer)), key) from None
            if key == "options" and id(layer) in files:
                files[id(layers[-1])] = files[id(layer)]
    cfg = RunConfig(**top, options=task.Options(**opts))
    cfg.dataset = cfg.dataset or task.default_dataset
    cfg.plugins = plugin_origins(cfg.task, cfg.model)
    validate(cfg)
    task.check_options(cfg)
    return cfg


def plugin_origins(task: str, model: str) -> dict[str, str]:
    """Where the task's and the model's code come from, for those that are not seqbench's own."""
    found = {"task": _tasks().REGISTRY.origin(task), "model": models.REGISTRY.origin(model)}
    return {kind: origin for kind, origin in found.items() if origin != BUILTIN}


def _merge(key, value, top: dict, opts: dict, task_name: str, layers: list) -> None:
    """Apply one key of a layer to the run's top-level fields or task options."""
    if not isinstance(key, str):
        raise BenchError(f"config key {key!r} must be a name")
    key = key.replace("-", "_")
    if key in top:
        top[key] = _coerce(key, value, top[key])
    elif key in opts:
        opts[key] = _coerce(key, value, opts[key])
    elif key == "options" and isinstance(value, dict):
        layers.append(value)  # nested form is accepted too
    else:
        valid = sorted(set(top) | set(opts))
        raise BenchError(f"unknown config key '{key}' for task '{task_name}'; valid: {', '.join(valid)}")


def located(error: BenchError, path: Path | None, key) -> BenchError:
    """The error prefixed with the config file and the line of `key` in it (top level or under options)."""
    if path is None:
        return error
    text = path.read_text()
    line = yaml_line(text, [key]) or yaml_line(text, ["options", key])
    return BenchError(f"config file '{path}'{f' line {line}' if line else ''}: {error}")


def validate(cfg: RunConfig) -> None:
    """The declared rules of every field and task option (bench.base.options), then the rules that tie
    fields together."""
    _tasks().get(cfg.task).check_dataset(cfg.dataset)
    cfg.clipping  # noqa: B018  (parsed here: a bad setting fails before any work)
    check_declared(cfg)
    check_declared(cfg.options)
    check_out(cfg.out)
    models.check(cfg)  # the options the model takes, and its own rules
    if cfg.momentum and cfg.optimizer != "sgd":
        raise BenchError(f"momentum {cfg.momentum} applies to --optimizer sgd only, not '{cfg.optimizer}'")
    world = cfg.world_size
    if cfg.batch_size % world:
        raise BenchError(
            f"batch_size {cfg.batch_size} is the global batch and must divide evenly over "
            f"{world} processes (devices x num_nodes); use a multiple of {world}"
        )


def from_saved(data: dict) -> RunConfig:
    """The RunConfig a record or checkpoint saved (keys this version no longer has are dropped), its task
    options typed again. Raises TypeError or ValueError on a config this version cannot read."""
    known = {f.name for f in fields(RunConfig)}
    cfg = RunConfig(**{k: v for k, v in data.items() if k in known})
    options = cfg.options if isinstance(cfg.options, dict) else {}
    cfg.options = _tasks().get(cfg.task).Options(**options)
    return cfg


def config_hash(cfg: RunConfig | dict) -> str:
    """Stable hash of everything that determines a run's result; of a RunConfig, or of the config a record or
    checkpoint saved (as it was saved: task options added since then do not change an old run's hash)."""
    default = RunConfig()
    saved = cfg if isinstance(cfg, dict) else dataclasses.asdict(cfg)
    data = {
        k: v
        for k, v in saved.items()
        if k not in NOT_HASHED and not (k in LATER_FIELDS and v == getattr(default, k))
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]
