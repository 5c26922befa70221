"""Property-based fuzz of the run command's flags and of its config file (Hypothesis): whatever the input, the
CLI exits 0, 1 or 2, an exit 2 is one line on stderr and writes nothing, nothing prints a traceback, and an
existing record is never changed. Training is replaced by a stub: what is fuzzed is everything before it."""

import json
import math
import os

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import runner, tasks
from bench.cli import main, run_fields
from bench.config import resolve
from bench.records import Record, Status, write_json

NUMBERS = [
    "0",
    "1",
    "-1",
    "2",
    "0.5",
    "1e6",
    "-0.0",
    "nan",
    "inf",
    "-inf",
    "1e309",
    "4294967296",
    "99999999999",
]
WORDS = [
    "",
    "true",
    "abc",
    "none",
    "lstm",
    "gru",
    "dtmf",
    "norm:1.0",
    "value:-1",
    "ddp",
    "cpu",
    "32",
    "bogus",
]
RUN_FLAGS = [
    f.name for f in run_fields() if f.type is not bool and f.name not in ("out", "threads", "wandb_project")
]
FLAGS = [f"--{name.replace('_', '-')}" for name in RUN_FLAGS]
OPTIONS = ["--n-mfcc", "--n-mels", "--train-limit", "--split", "--features", "--hop-ms", "--no-such"]
KEYS = RUN_FLAGS + [
    "threads",
    "bidirectional",
    "n_mfcc",
    "options",
    "zzz",
]
FUZZ = settings(  # FUZZ_EXAMPLES=1000 for a longer hunt; CI keeps it quick and repeatable
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    derandomize="FUZZ_EXAMPLES" not in os.environ,
)

keys = st.one_of(st.sampled_from(KEYS), st.integers(0, 2), st.booleans())  # YAML keys need not be strings
flag_value = st.one_of(st.sampled_from(NUMBERS + WORDS), st.text(max_size=8))
yaml_value = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**40), 2**40),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(NUMBERS + WORDS),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    ),
    max_leaves=6,
)


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """An output folder holding one finished record, and training replaced by a stub that writes nothing."""
    out = tmp_path / "out"
    existing = out / "speech-dtmf-lstm-000000000000.json"
    record = Record.start(resolve({"dataset": "dtmf"}), tasks.get("speech"))
    record.status, record.metrics = Status.OK, {"test/acc": 0.9}
    write_json(existing, record.to_json())
    monkeypatch.setattr(runner, "run", lambda cfg: (record, existing))
    return out, existing, existing.read_text()


def check(argv: list[str], sandbox, capsys) -> None:
    out, existing, before = sandbox
    listing = sorted(p.name for p in out.rglob("*"))
    try:
        code = main([*argv, "--out", str(out)])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    stdout, stderr = capsys.readouterr()
    assert code in (0, 1, 2), (argv, code, stderr)
    assert "Traceback" not in stdout + stderr, (argv, stderr)
    if code == 2:
        assert len(stderr.strip().splitlines()) <= 1, (argv, stderr)
        assert sorted(p.name for p in out.rglob("*")) == listing, argv  # no record, no folder
    assert existing.read_text() == before


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(FLAGS + OPTIONS), flag_value), max_size=4))
def test_fuzzed_flags(sandbox, capsys, pairs):
    argv = ["run"]
    for flag, value in pairs:
        argv += [flag, value] if not value.startswith("-") or value in NUMBERS else [f"{flag}={value}"]
    check(argv, sandbox, capsys)


@FUZZ
@given(st.one_of(st.dictionaries(keys, yaml_value, max_size=5), st.text(max_size=40)))
def test_fuzzed_config_file(sandbox, capsys, content):
    out = sandbox[0]
    path = out.parent / "fuzz.yaml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    check(["run", "--config", str(path)], sandbox, capsys)


def test_the_stub_is_reached_by_valid_input(sandbox, capsys):
    """The fuzz is not vacuous: valid input gets through every check to the (stubbed) run."""
    check(["run", "--dataset", "dtmf", "--lr", "0.01"], sandbox, capsys)
    assert main(["run", "--dataset", "dtmf", "--out", str(sandbox[0])]) == 0
    assert json.loads(sandbox[1].read_text())["metrics"]["test/acc"] == 0.9 and not math.isnan(0.9)
