"""Property-based fuzz of the run command's flags and config file, of suite files and of `generate`
(Hypothesis): whatever the input, the CLI exits 0, 1 or 2, an exit 2 is one line on stderr and writes nothing,
nothing prints a traceback, and an existing record is never changed. Training is replaced by a stub: what is
fuzzed is everything before it (one test goes as far as building the data, the model and the Trainer)."""

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
from bench.suites import SUITE_KEYS

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
    "99999999999999999999999",
    "1e23",
    "1e308",
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
RUN_FLAGS = [f.name for f in run_fields() if f.type is not bool and f.name not in ("out", "wandb_project")]
FLAGS = [f"--{name.replace('_', '-')}" for name in RUN_FLAGS]
OPTIONS = ["--n-mfcc", "--n-mels", "--train-limit", "--split", "--features", "--hop-ms", "--no-such"]
KEYS = RUN_FLAGS + [
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


NUMERIC = [f"--{f.name.replace('_', '-')}" for f in run_fields() if f.type in (int, float, "int", "float")]


@settings(FUZZ, max_examples=int(os.environ.get("FUZZ_EXAMPLES", "12")))
@given(st.lists(st.tuples(st.sampled_from(NUMERIC + OPTIONS[:3]), st.sampled_from(NUMBERS)), max_size=3))
def test_fuzzed_numbers_reach_model_building(tmp_path_factory, monkeypatch, capsys, pairs):
    """Every numeric flag, threads included, at huge, tiny and non-finite values, through data preparation, the
    model and the Trainer (only fit is stubbed): a value that passes the checks builds; one that does not is one
    line and exit 2, never a C++ error deep in torch."""
    out = tmp_path_factory.mktemp("deep")
    monkeypatch.setattr(runner, "fit_and_test", lambda parts, record: None)
    argv = ["run", "--dataset", "dtmf", "--train-limit", "64", "--max-epochs", "1"]
    for flag, value in pairs:
        argv += [f"{flag}={value}"]
    try:
        code = main([*argv, "--out", str(out)])
    except SystemExit as e:
        code = e.code
    stdout, stderr = capsys.readouterr()
    assert code in (0, 1, 2) and "Traceback" not in stdout + stderr, (argv, stderr)
    if code == 2:
        assert len(stderr.strip().splitlines()) <= 1 and not list(out.glob("*.json")), (argv, stderr)


suite_value = st.one_of(yaml_value, st.sampled_from([[], {}, [0], {"adding": None}, "dtmf", ["nope"]]))
FUZZ_SUITE_KEYS = [*SUITE_KEYS, "zz"]


@FUZZ
@given(
    st.one_of(
        st.dictionaries(st.sampled_from(FUZZ_SUITE_KEYS), suite_value, max_size=5),
        st.fixed_dictionaries(
            {"tasks": st.dictionaries(st.sampled_from(["speech", "probes", "x"]), suite_value)}
        ),
        st.text(max_size=40),
    )
)
def test_fuzzed_suite_files(tmp_path_factory, monkeypatch, capsys, content):
    """A suite file of any shape: one line and exit 2, or a sweep (stubbed: no cell trains)."""
    from bench import sweep as sweeping

    monkeypatch.setattr(sweeping, "sweep", lambda suite, *a, **k: {"ok": 0})
    path = tmp_path_factory.mktemp("suite") / "fuzz.yaml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    try:
        code = main(["sweep", str(path), "--out", str(path.parent / "runs")])
    except SystemExit as e:
        code = e.code
    stdout, stderr = capsys.readouterr()
    assert code in (0, 1, 2) and "Traceback" not in stdout + stderr, (content, stderr)
    if code == 2:
        assert len(stderr.strip().splitlines()) == 1, (content, stderr)


@pytest.fixture(scope="module")
def lm_record(tmp_path_factory):
    from bench.tasks import lm_text

    folder = tmp_path_factory.mktemp("lm")
    text = folder / "play.txt"
    text.write_text(lm_text.synthetic_play(5_000, seed=1))
    cfg = {"task": "lm", "dataset": f"text:{text}", "hidden_size": 8, "bptt": 16, "max_epochs": 1}
    _, path = runner.run(resolve({**cfg, "batch_size": 8, "out": str(folder / "runs")}))
    return str(path)


@FUZZ
@given(
    st.lists(
        st.tuples(st.sampled_from(["--length", "--temperature", "--seed", "--prompt"]), flag_value),
        max_size=3,
    )
)
def test_fuzzed_generate(lm_record, capsys, pairs):
    """Any length, temperature, seed or prompt: text, or one line and exit 2 (a huge length is refused, not
    sampled for hours)."""
    argv = ["generate", lm_record, *[f"{flag}={value}" for flag, value in pairs]]
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    stdout, stderr = capsys.readouterr()
    assert code in (0, 2) and "Traceback" not in stdout + stderr, (argv, stderr)
    assert code == 0 or len(stderr.strip().splitlines()) == 1, (argv, stderr)


def test_the_deep_fuzz_reaches_the_model(tmp_path, monkeypatch, capsys):
    """Not vacuous: valid numbers get through data preparation to a built model and Trainer (fit stubbed)."""
    built = []
    monkeypatch.setattr(runner, "fit_and_test", lambda parts, record: built.append(parts.trainer))
    argv = ["run", "--dataset", "dtmf", "--train-limit", "64", "--hidden-size=3", "--threads=1", "--lr=1e-3"]
    assert main([*argv, "--out", str(tmp_path)]) == 1  # no checkpoint from a stubbed fit: a failed record
    assert built and built[0] is not None
