"""Model registry: pure nn.Modules mapping [B, T, F] (+ lengths) to [B, T, H] outputs and a final state.

A model is a `ModelSpec`: its factory and what the harness asks of it (which shared encoder options it takes,
the checks that tie them together, the fused torch cell it runs, if any). The module it builds carries
`output_size`, `bidirectional` and `parameter_groups()` (the `Encoder` contract, bench/models/encoder.py). The
harness asks these; it never tests a model's name. Users add models from their own package (bench.base.registry).

This module imports no torch: the built-in models are declared at its end with their factories named as
'module:attribute', imported when a model is first built, so `bench models`, `bench table` and a suite's
cells are read without the seconds torch takes to import.

run: python -c "from bench import models; print(models.build('lstm', input_size=20, hidden_size=64))"
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bench.base.errors import BenchError
from bench.base.registry import Registry, load_attribute

if TYPE_CHECKING:
    from bench.models.encoder import Encoder

# The encoder options of RunConfig a model may take beyond input_size, hidden_size, num_layers and dropout,
# with their defaults: a model that does not declare one gets no such keyword, and a run that sets it fails.
ENCODER_OPTIONS = {
    "bidirectional": False,
    "recurrent_init_scale": 1.0,
    "norm_layer": "none",
    "checkpoint_segments": 0,
}


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: `factory(input_size, hidden_size, num_layers, dropout, **options)` -> Encoder.

    options: the names of ENCODER_OPTIONS it takes. check(cfg) raises BenchError where the options it takes do
    not fit together. cell: the torch fused module it runs ('rnn', 'lstm', 'gru': cuDNN on GPU, oneDNN on CPU),
    which the precision probe tests and the record names; None for a model of plain torch ops. reference: not a
    recurrent network, shown beside them for scale (the table marks its columns)."""

    factory: Callable[..., "Encoder"]
    description: str = ""
    paper: str = ""
    options: tuple[str, ...] = ()
    check: Callable | None = field(default=None, compare=False)
    cell: str | None = None
    reference: bool = False


@dataclass(frozen=True)
class Lazy:
    """A function named 'module:attribute', imported on its first call and called with `args` first."""

    path: str
    args: tuple = ()

    def __call__(self, *args, **kwargs):
        return load_attribute(self.path)(*self.args, *args, **kwargs)


def __getattr__(name: str):
    """`Encoder` and `valid_steps` (bench/models/encoder.py, which imports torch) on first use."""
    if name in ("Encoder", "valid_steps"):
        from bench.models import encoder

        return getattr(encoder, name)
    raise AttributeError(f"module 'bench.models' has no attribute '{name}'")


def _as_spec(name: str, obj) -> ModelSpec:
    """A plugin's object as a spec: a ModelSpec as it is, a bare factory with no options and its docstring."""
    if isinstance(obj, ModelSpec):
        return obj
    if callable(obj):
        return ModelSpec(obj, description=(obj.__doc__ or name).strip().splitlines()[0])
    raise BenchError(f"model '{name}' is a {type(obj).__name__}, not a ModelSpec or a factory")


REGISTRY = Registry("model", "seqbench.models", _as_spec)


def register(name: str, spec: ModelSpec) -> ModelSpec:
    return REGISTRY.register(name, spec)


def names() -> list[str]:
    return REGISTRY.names()


def spec(name: str) -> ModelSpec:
    return REGISTRY.get(name)


def check(cfg) -> None:
    """The model's options in cfg: none it does not take is set, and its own check passes."""
    model = spec(cfg.model)
    for option, default in ENCODER_OPTIONS.items():
        if option not in model.options and getattr(cfg, option) != default:
            takes = ", ".join(model.options) or "none of them"
            raise BenchError(
                f"--{option.replace('_', '-')} does not apply to model '{cfg.model}' (it takes: {takes})"
            )
    if model.check is not None:
        model.check(cfg)


def build(
    name: str, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0, **options
) -> "Encoder":
    """Build model `name`; unknown names fail listing the registered ones."""
    return spec(name).factory(
        input_size=input_size, hidden_size=hidden_size, num_layers=num_layers, dropout=dropout, **options
    )


def build_for(cfg, input_size: int) -> "Encoder":
    """The configured model reading `input_size` features per step, given the options it takes."""
    model = spec(cfg.model)
    options = {k: getattr(cfg, k) for k in model.options}
    encoder = build(cfg.model, input_size, cfg.hidden_size, cfg.num_layers, cfg.dropout, **options)
    if not isinstance(getattr(encoder, "output_size", None), int):
        raise BenchError(
            f"model '{cfg.model}' built a {type(encoder).__name__} without an int `output_size`; "
            "subclass bench.models.Encoder and set it"
        )
    return encoder


def hidden_for_params(name: str, params: int, input_size: int, num_layers: int = 1) -> int:
    """The hidden size at which model `name` has the parameter count closest to `params` (built on the meta
    device: nothing is allocated), so families are compared at equal size, not at equal width."""

    import torch

    def count(hidden: int) -> int:
        with torch.device("meta"):
            return sum(p.numel() for p in build(name, input_size, hidden, num_layers).parameters())

    lo, hi = 1, 16384
    while lo < hi:  # parameter counts grow with the width
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if count(mid) < params else (lo, mid)
    return min((lo, max(1, lo - 1)), key=lambda h: abs(count(h) - params))


# The built-in models, declared here so that they are listed without importing torch.
NORM_LAYERS = ("none", "layer", "batch")  # the fused cells' --norm-layer (bench/models/normalized.py)


def _fused(cell: str, description: str, paper: str) -> ModelSpec:
    factory = Lazy("bench.models.recurrent:RecurrentEncoder", (cell,))
    return ModelSpec(factory, description, paper, tuple(ENCODER_OPTIONS), _check_fused, cell)


def _check_fused(cfg) -> None:
    """The rules that tie the fused encoder's options together."""
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


_MINIMAL, _FENG = "bench.models.minimal:MinimalRNN", "Feng et al. 2024, Were RNNs All We Needed?"
register("rnn", _fused("rnn", "vanilla Elman RNN, tanh (torch.nn.RNN)", "Elman 1990"))
register(
    "lstm",
    _fused(
        "lstm",
        "long short-term memory, forget-gate bias 1 (torch.nn.LSTM)",
        "Hochreiter & Schmidhuber 1997; Gers et al. 2000",
    ),
)
register("gru", _fused("gru", "gated recurrent unit (torch.nn.GRU)", "Cho et al. 2014"))
register(
    "mingru",
    ModelSpec(Lazy(_MINIMAL, ("mingru",)), "minGRU: input-only gates, one linear scan over time", _FENG),
)
register(
    "minlstm",
    ModelSpec(
        Lazy(_MINIMAL, ("minlstm",)),
        "minLSTM: input-only normalized forget/input gates, one linear scan over time",
        _FENG,
    ),
)
register(
    "lru",
    ModelSpec(
        Lazy("bench.models.lru:LRU"),
        "Linear Recurrent Unit: diagonal complex recurrence in pre-norm residual GLU blocks, linear scan",
        "Orvieto et al. 2023, Resurrecting RNNs for Long Sequences",
    ),
)
register(
    "transformer",
    ModelSpec(
        Lazy("bench.models.transformer:Transformer"),
        "reference, not recurrent: causal pre-norm Transformer, rotary positions, no carried state",
        "Vaswani et al. 2017; Su et al. 2021 (RoPE)",
        reference=True,
    ),
)
