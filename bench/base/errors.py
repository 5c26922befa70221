"""User-facing errors: one line that names the bad value and what would be valid.

run: raise BenchError("unknown model 'lstn'; valid: gru, lstm, rnn")
"""


class BenchError(Exception):
    """An error caused by input (flags, config, data files) rather than a bug; printed as one line."""


class Diverged(Exception):
    """Raised inside training when the loss becomes NaN or inf; the runner records status `diverged`."""

    def __init__(self, step: int, value: float):
        super().__init__(f"non-finite training loss ({value}) at step {step}")
        self.step = step


def unknown(kind: str, name: str, valid) -> BenchError:
    """The standard 'unknown X' error listing the valid names."""
    return BenchError(f"unknown {kind} '{name}'; valid: {', '.join(sorted(valid))}")
