import dataclasses
import re

import pytest

from bench import tasks
from bench.base.errors import BenchError
from bench.base.options import check_declared, describe, option
from bench.config import NOT_FLAGS, RunConfig, config_hash, parse_clip, resolve


def test_parse_clip():
    assert parse_clip("none") == (None, None)
    assert parse_clip("norm:1.0") == (1.0, "norm")
    assert parse_clip("value:0.5") == (0.5, "value")


@pytest.mark.parametrize(
    "bad", ["norm", "norm:", "norm:-1", "norm:0", "value:abc", "max:1", "norm:inf", "1.0"]
)
def test_bad_clip_names_value_and_valid_forms(bad):
    with pytest.raises(BenchError, match=rf"bad clip setting '{bad}'; valid: none, norm:<max>, value:<max>"):
        parse_clip(bad)


def test_layers_override_in_order(tmp_path):
    cfg = resolve({"task": "speech"})
    assert (cfg.max_epochs, cfg.dataset, cfg.options.split) == (
        40,
        "fsdd",
        "official",
    )  # bench/configs/speech.yaml
    f = tmp_path / "c.yaml"
    f.write_text("max_epochs: 3\nsplit: speaker\nlr: 0.01\n")
    cfg = resolve({"model": "gru", "lr": 0.5}, str(f))
    assert (cfg.max_epochs, cfg.model, cfg.lr, cfg.options.split) == (3, "gru", 0.5, "speaker")


def test_unknown_key_lists_valid_keys(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("hiden_size: 3\n")
    with pytest.raises(
        BenchError, match=r"unknown config key 'hiden_size' for task 'speech'; valid: .*hidden_size"
    ):
        resolve({}, str(f))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"hidden_size": 0}, "'hidden_size' must be positive, got 0"),
        ({"lr": -1.0}, "'lr' must be positive, got -1.0"),
        ({"batch_size": "x"}, "bad value for 'batch_size': 'x' (expected int)"),
        ({"dropout": 1.0}, "'dropout' must be in [0, 1), got 1.0"),
        ({"task": "vision"}, f"unknown task 'vision'; valid: {', '.join(tasks.names())}"),
        (
            {"dataset": "mnist"},
            "unknown dataset for task 'speech' 'mnist'; valid: dtmf, fsdd, speechcommands-digits",
        ),
        ({"features": "wavelet"}, "unknown features 'wavelet'; valid: mfcc, logmel"),
    ],
)
def test_bad_values_are_named(override, message):
    with pytest.raises(BenchError, match=re.escape(message)):
        resolve(override)


def test_hash_tracks_results_not_locations():
    a = resolve({"seed": 0, "out": "a"})
    assert config_hash(a) == config_hash(resolve({"seed": 0, "out": "b", "devices": 1}))
    assert config_hash(a) != config_hash(resolve({"seed": 1}))
    assert config_hash(a) != config_hash(resolve({"n_mfcc": 13}))


def test_later_fields_keep_earlier_hashes():
    """A field added to RunConfig must not move the records of earlier configs (sweeps resume by hash, the
    reference table names its cells by it): hashed only when set. The value is the hash before the field."""
    assert config_hash(resolve({"task": "speech"})) == "de07eca9c8db"
    assert config_hash(resolve({"task": "speech", "matmul_precision": "high"})) != "de07eca9c8db"


def test_one_validator_checks_and_describes_every_declared_rule():
    """A field declared with option() is checked, and described in --help, with no hand-written check."""

    @dataclasses.dataclass
    class Opts:
        n: int = option(3, "count", positive=True)
        share: float = option(0.1, "a share", above=0, below=0.5)
        kind: str = option("a", "kind", choices=("a", "b"))
        k: int = option(0, "k", least=0)
        rate: float = option(1.0, "rate", above=0)

    check_declared(Opts())
    for bad, message in (
        ({"n": 0}, "'n' must be positive, got 0"),
        ({"share": 0.5}, "'share' must be in (0, 0.5), got 0.5"),
        ({"share": 0.0}, "'share' must be in (0, 0.5), got 0.0"),
        ({"share": float("nan")}, "'share' must be a finite number, got nan"),
        ({"kind": "c"}, "unknown kind 'c'; valid: a, b"),
        ({"k": -1}, "'k' must not be negative, got -1"),
        ({"rate": 0.0}, "'rate' must be greater than 0, got 0.0"),
    ):
        with pytest.raises(BenchError, match=re.escape(message)):
            check_declared(Opts(**bad))
    assert describe(Opts).splitlines() == [
        "    --n: count (default 3; > 0)",
        "    --share: a share (default 0.1; in (0, 0.5))",
        "    --kind: kind (default 'a'; one of a | b)",
        "    --k: k (default 0; >= 0)",
        "    --rate: rate (default 1.0; > 0)",
    ]


def test_every_run_field_and_task_option_is_declared_with_help():
    """The run command's help is written from the declarations: none may be missing."""
    declared = [f for f in dataclasses.fields(RunConfig) if f.name not in NOT_FLAGS]
    declared += [f for name in tasks.names() for f in dataclasses.fields(tasks.get(name).Options)]
    assert [f.name for f in declared if not f.metadata.get("help")] == []
    assert isinstance(resolve({"task": "lm"}).options, tasks.get("lm").Options)  # typed, not a dict


def test_every_default_budget_is_in_epochs_not_minutes():
    """A wall-clock default made the default command's answer depend on the machine's load (issue #32)."""
    for name in tasks.names():
        cfg = resolve({"task": name})
        assert cfg.max_minutes == 0 and 0 < cfg.max_epochs <= 40, (name, cfg.max_minutes, cfg.max_epochs)
