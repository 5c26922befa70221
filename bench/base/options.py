"""Declared options: each field of a config dataclass carries its default, help text and constraint, and one
validator checks them all; command-line help and error messages are written from the same declarations.

run: python -c "from bench import tasks; from bench.base.options import describe; print(describe(tasks.get('lm').Options))"
"""

import dataclasses
import math
from collections.abc import Callable, Iterable
from typing import Any

from bench.base.errors import BenchError

# Magnitudes past which no option means anything and torch's C++ would overflow (a C int, a timedelta) deep
# inside a run: a field without its own upper bound is checked against these.
INT_LIMIT, FLOAT_LIMIT = 2**31, 1e9


def option(
    default: Any,
    help: str = "",
    *,
    positive: bool = False,
    least: float | None = None,
    above: float | None = None,
    below: float | None = None,
    choices: Iterable[str] | Callable[[], Iterable[str]] | None = None,
):
    """A dataclass field: its default, what it means, and what values it takes (`choices` may be a function
    that returns the names of a registry, read when checked)."""
    rule = {"positive": positive, "least": least, "above": above, "below": below, "choices": choices}
    return dataclasses.field(default=default, metadata={"help": help, **rule})


def valid_choices(f: dataclasses.Field) -> list[str] | None:
    choices = f.metadata.get("choices")
    return list(choices() if callable(choices) else choices) if choices is not None else None


def check_declared(obj) -> None:
    """Every field of the dataclass `obj` against its declaration: finite floats, choices and bounds."""
    for f in dataclasses.fields(obj):
        key, value, rule = f.name, getattr(obj, f.name), f.metadata
        if isinstance(value, float) and not math.isfinite(value):
            raise BenchError(f"'{key}' must be a finite number, got {value}")
        limit = INT_LIMIT if isinstance(value, int) else FLOAT_LIMIT
        if rule.get("below") is None and isinstance(value, int | float) and abs(value) >= limit:
            raise BenchError(f"'{key}' must be below {limit:.3g} in magnitude, got {value:.3g}")
        valid = valid_choices(f) if value != f.default else None  # a default is valid: no registry to load
        if valid is not None and value not in valid:
            raise BenchError(f"unknown {key} '{value}'; valid: {', '.join(map(str, valid))}")
        least, above, below = rule.get("least"), rule.get("above"), rule.get("below")
        low_ok = (least is None or value >= least) and (above is None or value > above)
        if below is not None and not (low_ok and value < below):
            raise BenchError(f"'{key}' must be in {interval(f)}, got {value}")
        if rule.get("positive") and not value > 0:
            raise BenchError(f"'{key}' must be positive, got {value}")
        if below is None and above is not None and not value > above:
            raise BenchError(f"'{key}' must be greater than {above}, got {value}")
        if least is not None and value < least:
            raise BenchError(
                f"'{key}' must {'not be negative' if least == 0 else f'be at least {least}'}, got {value}"
            )


def interval(f: dataclasses.Field) -> str:
    """A bounded field's range: [least, below) or (above, below)."""
    rule = f.metadata
    return (
        f"[{rule['least']}, {rule['below']})"
        if rule["least"] is not None
        else f"({rule['above']}, {rule['below']})"
    )


def constraint(f: dataclasses.Field) -> str:
    """The declared rule of a field in words: 'one of a | b', '> 0', '>= 1', 'in [0, 1)'. Choices read from a
    slow registry may carry their words (`described`) so that help does not load it."""
    rule = f.metadata
    if described := getattr(rule.get("choices"), "described", None):
        return described
    valid = valid_choices(f)
    if valid is not None:
        return "one of " + " | ".join(map(str, valid[:8])) + (" | ..." if len(valid) > 8 else "")
    if rule.get("below") is not None:
        return f"in {interval(f)}"
    if rule.get("positive"):
        return "> 0"
    if rule.get("above") is not None:
        return f"> {rule['above']}"
    return f">= {rule['least']}" if rule.get("least") is not None else ""


def flag_help(f: dataclasses.Field) -> str:
    """A field's help line: what it means, its default and its rule."""
    rule = constraint(f)
    return f"{f.metadata.get('help', '')} (default {f.default!r}{f'; {rule}' if rule else ''})".lstrip()


def describe(options_class) -> str:
    """One line per field of an options dataclass: --flag, help, default and rule."""
    return "\n".join(
        f"    --{f.name.replace('_', '-')}: {flag_help(f)}" for f in dataclasses.fields(options_class)
    )
