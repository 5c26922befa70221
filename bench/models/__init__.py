"""Model registry: pure nn.Modules mapping [B, T, F] (+ lengths) to [B, T, H] outputs and a final state.

A model is a `ModelSpec`: its factory and what the harness asks of it (which shared encoder options it takes,
the checks that tie them together, the fused torch cell it runs, if any). The module it builds carries
`output_size`, `bidirectional` and `parameter_groups()` (the `Encoder` contract below). The harness asks these;
it never tests a model's name. Users add models from their own package (bench.base.registry).

run: python -c "from bench import models; print(models.build('lstm', input_size=20, hidden_size=64))"
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from bench.base.errors import BenchError
from bench.base.registry import Registry

# The encoder options of RunConfig a model may take beyond input_size, hidden_size, num_layers and dropout,
# with their defaults: a model that does not declare one gets no such keyword, and a run that sets it fails.
ENCODER_OPTIONS = {
    "bidirectional": False,
    "recurrent_init_scale": 1.0,
    "norm_layer": "none",
    "checkpoint_segments": 0,
}


class Encoder(nn.Module):
    """The contract of a built model, for the tasks' heads and the diagnostics.

    output_size: features per step of its outputs [B, T, output_size]; bidirectional: whether a backward
    direction fills the second half of them (a head then reads that half at t = 0).
    forward(x [B, T, F], lengths [B] or None, state or None) -> (outputs [B, T, output_size], final state)."""

    output_size: int
    bidirectional = False

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """'ih' (input-to-hidden) and 'hh' (hidden-to-hidden) weights, for the gradient norms per group; a
        model that declares none gets no group norms in its record (not zeros)."""
        return {}


def valid_steps(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor | None:
    """[B, T, 1] True where a step of x [B, T, F] is inside its sequence; None when every step is."""
    if lengths is None:
        return None
    return (torch.arange(x.shape[1], device=x.device) < lengths.to(x.device)[:, None]).unsqueeze(-1)


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: `factory(input_size, hidden_size, num_layers, dropout, **options)` -> Encoder.

    options: the names of ENCODER_OPTIONS it takes. check(cfg) raises BenchError where the options it takes do
    not fit together. cell: the torch fused module it runs ('rnn', 'lstm', 'gru': cuDNN on GPU, oneDNN on CPU),
    which the precision probe tests and the record names; None for a model of plain torch ops. reference: not a
    recurrent network, shown beside them for scale (the table marks its columns)."""

    factory: Callable[..., nn.Module]
    description: str = ""
    paper: str = ""
    options: tuple[str, ...] = ()
    check: Callable | None = field(default=None, compare=False)
    cell: str | None = None
    reference: bool = False


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
) -> nn.Module:
    """Build model `name`; unknown names fail listing the registered ones."""
    return spec(name).factory(
        input_size=input_size, hidden_size=hidden_size, num_layers=num_layers, dropout=dropout, **options
    )


def build_for(cfg, input_size: int) -> nn.Module:
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

    def count(hidden: int) -> int:
        with torch.device("meta"):
            return sum(p.numel() for p in build(name, input_size, hidden, num_layers).parameters())

    lo, hi = 1, 16384
    while lo < hi:  # parameter counts grow with the width
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if count(mid) < params else (lo, mid)
    return min((lo, max(1, lo - 1)), key=lambda h: abs(count(h) - params))


# each module registers its models: rnn, lstm, gru; mingru, minlstm; lru; transformer
from bench.models import lru, minimal, recurrent, transformer  # noqa: E402,F401
