"""Run configuration: typed dataclass defaults, flat YAML overrides, unknown keys rejected, a stable hash.

Resolution order (later wins): RunConfig defaults < task option defaults < configs/<task>.yaml
< --config FILE < command-line flags.

run: python -c "from bench.config import resolve; print(resolve({'task': 'speech', 'model': 'gru'}))"
"""

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import models
import tasks
from bench import optim
from bench.base.errors import BenchError
from bench.checks import check_numbers, check_out, check_strategy, read_mapping, yaml_line
from models.recurrent import LAYERS

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


@dataclass
class RunConfig:
    """Hyper-parameters every task shares; task-specific ones live in `options`."""

    task: str = "speech"
    dataset: str = ""  # empty: the task's default dataset
    model: str = "lstm"
    clip: str = "none"  # none | norm:<max> | value:<max>
    seed: int = 0
    max_epochs: int = 30
    max_minutes: float = 0.0  # wall-clock budget for training; 0 = none
    patience: int = 8  # early-stopping patience in epochs on the primary validation metric
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.0
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.0
    bidirectional: bool = False
    recurrent_init_scale: float = 1.0
    norm_layer: str = "none"  # none (the fused cuDNN/oneDNN modules) | layer | batch (models/normalized.py)
    checkpoint_segments: int = 0  # K > 1: keep K segment states, recompute the steps in backward (exact)
    optimizer: str = "adam"  # adam | adamw | sgd (bench/optim.py)
    momentum: float = 0.0  # sgd only
    schedule: str = "plateau"  # plateau (halve after 3 flat epochs) | cosine | none
    warmup_steps: int = 0  # linear learning-rate warm-up over the first N optimizer steps
    devices: int = 1  # per node; batch_size is the global batch, split evenly over devices x nodes
    num_nodes: int = 1
    strategy: str = "auto"  # auto | ddp | ddp_spawn | ... (Lightning strategies)
    accelerator: str = "auto"  # auto | cpu | gpu
    precision: str = "32"  # 32 | bf16-mixed | 16-mixed
    matmul_precision: str = "highest"  # float32 matmuls and cuDNN: highest (exact fp32) | high, medium (TF32)
    threads: int = 0  # torch CPU threads; 0 = torch's default. Fixed in suites so results reproduce
    out: str = "runs"
    wandb: bool = False  # log to Weights & Biases (offline unless logged in)
    wandb_project: str = "seqbench"
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def world_size(self) -> int:
        """Training processes: devices x nodes; batch_size is split evenly over them."""
        return self.devices * self.num_nodes


# Keys that change where or how fast a run happens but not its result; left out of the run's hash.
NOT_HASHED = ("out", "devices", "num_nodes", "strategy", "accelerator", "threads", "wandb", "wandb_project")
POSITIVE = ("max_epochs", "batch_size", "lr", "hidden_size", "num_layers", "patience", "devices", "num_nodes")
PRECISIONS = ("32", "bf16-mixed", "16-mixed")
MATMUL_PRECISIONS = ("highest", "high", "medium")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
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
)


def parse_clip(clip: str) -> tuple[float | None, str | None]:
    """'none' -> (None, None); 'norm:1.0' -> (1.0, 'norm'); 'value:0.5' -> (0.5, 'value')."""
    if clip == "none":
        return None, None
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
    return limit, algo


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
    task = tasks.get(_coerce("task", task_name, RunConfig.task))
    task_file = CONFIG_DIR / f"{task.name}.yaml"
    if task_file.is_file():
        layers.insert(0, read_yaml(task_file))
        files[id(layers[0])] = task_file

    base = RunConfig()
    top = {f.name: getattr(base, f.name) for f in fields(RunConfig) if f.name != "options"}
    opts = dataclasses.asdict(task.Options())
    for layer in layers:
        for key, value in layer.items():
            try:
                _merge(key, value, top, opts, task.name, layers)
            except BenchError as e:
                raise located(e, files.get(id(layer)), key) from None
            if key == "options" and id(layer) in files:
                files[id(layers[-1])] = files[id(layer)]
    cfg = RunConfig(**top, options=opts)
    cfg.dataset = cfg.dataset or task.default_dataset
    validate(cfg, models.names())
    task.check_options(cfg)
    return cfg


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


def validate(cfg: RunConfig, model_names: list[str]) -> None:
    if cfg.model not in model_names:
        raise BenchError(f"unknown model '{cfg.model}'; valid: {', '.join(model_names)}")
    tasks.get(cfg.task).check_dataset(cfg.dataset)
    parse_clip(cfg.clip)
    check_numbers(cfg)
    check_strategy(cfg.strategy)
    check_out(cfg.out)
    for key in POSITIVE:
        if not getattr(cfg, key) > 0:
            raise BenchError(f"'{key}' must be positive, got {getattr(cfg, key)}")
    if not 0 <= cfg.dropout < 1:
        raise BenchError(f"'dropout' must be in [0, 1), got {cfg.dropout}")
    check_training_aids(cfg)
    for key in ("max_minutes", "weight_decay", "recurrent_init_scale", "threads"):
        if getattr(cfg, key) < 0:
            raise BenchError(f"'{key}' must not be negative, got {getattr(cfg, key)}")
    check_choices(
        cfg,
        (("accelerator", ACCELERATORS), ("precision", PRECISIONS), ("matmul_precision", MATMUL_PRECISIONS)),
    )
    world = cfg.world_size
    if cfg.batch_size % world:
        raise BenchError(
            f"batch_size {cfg.batch_size} is the global batch and must divide evenly over "
            f"{world} processes (devices x num_nodes); use a multiple of {world}"
        )


def check_choices(cfg: RunConfig, choices) -> None:
    """Each (key, valid names): the config's value must be one of them."""
    for key, valid in choices:
        if getattr(cfg, key) not in valid:
            raise BenchError(f"unknown {key} '{getattr(cfg, key)}'; valid: {', '.join(valid)}")


def check_training_aids(cfg: RunConfig) -> None:
    """Normalization, checkpointing, optimizer and schedule: names from their registries, sane numbers."""
    check_choices(
        cfg,
        (
            ("norm_layer", list(LAYERS)),
            ("optimizer", optim.names(optim.OPTIMIZERS)),
            ("schedule", optim.names(optim.SCHEDULES)),
        ),
    )
    if cfg.norm_layer == "batch" and cfg.model != "lstm":
        raise BenchError(
            f"norm_layer 'batch' (recurrent batch normalization, Cooijmans et al. 2017) is defined for the "
            f"lstm, not '{cfg.model}'; use --norm-layer layer"
        )
    if cfg.checkpoint_segments > 1 and (cfg.bidirectional or cfg.norm_layer == "batch"):
        raise BenchError(
            f"checkpoint_segments {cfg.checkpoint_segments} needs a unidirectional encoder without batch norm "
            "(drop --bidirectional, or use --norm-layer none|layer)"
        )
    for key in ("checkpoint_segments", "momentum", "warmup_steps"):
        if getattr(cfg, key) < 0:
            raise BenchError(f"'{key}' must not be negative, got {getattr(cfg, key)}")
    if cfg.momentum and cfg.optimizer != "sgd":
        raise BenchError(f"momentum {cfg.momentum} applies to --optimizer sgd only, not '{cfg.optimizer}'")


def config_hash(cfg: RunConfig) -> str:
    """Stable hash of everything that determines a run's result."""
    default = RunConfig()
    data = {
        k: v
        for k, v in dataclasses.asdict(cfg).items()
        if k not in NOT_HASHED and not (k in LATER_FIELDS and v == getattr(default, k))
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]
