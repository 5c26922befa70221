"""User-facing errors: one line that names the bad value and what would be valid.

run: raise BenchError("unknown model 'lstn'; valid: gru, lstm, rnn")
"""


class BenchError(Exception):
    """An error caused by input (flags, config, data files) rather than a bug; printed as one line."""


class BadInput(BenchError):
    """Data that no run can use, found while it is read (an empty or damaged CSV or text file, a folder without
    videos, a missing dataset): like a bad flag, the run stops with exit 2 and one line, and writes no record."""


class Diverged(Exception):
    """Raised inside training when the loss becomes NaN or inf; the runner records status `diverged`."""

    def __init__(self, step: int, value: float):
        super().__init__(f"non-finite training loss ({value}) at step {step}")
        self.step = step


def unknown(kind: str, name: str, valid) -> BenchError:
    """The standard 'unknown X' error listing the valid names."""
    return BenchError(f"unknown {kind} '{name}'; valid: {', '.join(sorted(valid))}")
