"""Model registry: pure nn.Modules mapping [B, T, F] (+ lengths) to [B, T, H] outputs and a final state.

run: python -c "from bench import models; print(models.build('lstm', input_size=20, hidden_size=64))"
"""

from collections.abc import Callable

from torch import nn

from bench.base.errors import unknown

REGISTRY: dict[str, Callable[..., nn.Module]] = {}
DESCRIPTIONS: dict[str, str] = {}


def register(name: str, description: str):
    """Register a model factory under `name`."""

    def wrap(factory):
        REGISTRY[name] = factory
        DESCRIPTIONS[name] = description
        return factory

    return wrap


def names() -> list[str]:
    return sorted(REGISTRY)


def build(
    name: str, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0, **kwargs
) -> nn.Module:
    """Build model `name`; unknown names fail listing the registered ones."""
    if name not in REGISTRY:
        raise unknown("model", name, REGISTRY)
    return REGISTRY[name](
        input_size=input_size, hidden_size=hidden_size, num_layers=num_layers, dropout=dropout, **kwargs
    )


from bench.models import recurrent  # noqa: E402,F401  (registers rnn, lstm, gru)
