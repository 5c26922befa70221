"""Bad input ends with one clear line and a non-zero exit; listings and --help work."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from bench import models, tasks
from bench.cli import main
from tests.conftest import ROOT, usage_error


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "vision"], f"error: unknown task 'vision'; valid: {', '.join(tasks.names())}"),
        (["--model", "tranformer"], f"error: unknown model 'tranformer'; valid: {', '.join(models.names())}"),
        (
            ["--dataset", "timit"],
            "error: unknown dataset for task 'speech' 'timit'; valid: dtmf, fsdd, speechcommands-digits",
        ),
        (
            ["--clip", "norm:-1"],
            "error: bad clip setting 'norm:-1'; valid: none, norm:<max>, value:<max> with max > 0",
        ),
        (["--hidden-size", "0"], "error: 'hidden_size' must be positive, got 0"),
        (["--lr", "0"], "error: 'lr' must be positive, got 0.0"),
        (["--batch-size", "-4"], "error: 'batch_size' must be positive, got -4"),
        (["--split", "random"], "error: unknown split 'random'; valid: official, speaker"),
        (["--no-such-option", "3"], "error: unknown config key 'no_such_option' for task 'speech'; valid:"),
    ],
)
def test_bad_arguments(args, message, capsys):
    assert usage_error(["run", *args], capsys).startswith(message)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "inf"], "error: 'lr' must be a finite number, got inf"),
        (["--weight-decay", "inf"], "error: 'weight_decay' must be a finite number, got inf"),
        (["--weight-decay", "nan"], "error: 'weight_decay' must be a finite number, got nan"),
        (["--max-minutes", "nan"], "error: 'max_minutes' must be a finite number, got nan"),
        (["--recurrent-init-scale", "nan"], "error: 'recurrent_init_scale' must be a finite number, got nan"),
        (["--seed", "-1"], "error: 'seed' must be in [0, 4294967296), got -1"),
        (["--strategy", "bogus"], "error: unknown strategy 'bogus'; valid: auto, ddp, ddp_spawn"),
        (["--n-mfcc", "500"], "error: 'n_mfcc' must not exceed 'n_mels' (40), got 500"),
        (["--train-limit", "nan"], "error: bad value for 'train_limit': 'nan' (expected int)"),
    ],
)
def test_bad_numbers_and_names_are_caught_before_any_work(args, message, tmp_path, capsys):
    """Row 9 of issue 13: each was accepted and failed later (or silently changed the run)."""
    assert usage_error(["run", *args, "--out", str(tmp_path)], capsys).startswith(message)
    assert list(tmp_path.iterdir()) == []  # no record, no folder


def test_bad_config_files_are_one_line_with_file_and_line(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: lstm\nhidden_size: true\n")
    assert "bad value for 'hidden_size': True (expected int)" in usage_error(
        ["run", "--config", str(cfg)], capsys
    )
    cfg.write_text("model: lstm\nhidden_size: [16\n")
    assert f"config file '{cfg}' line 3: " in usage_error(["run", "--config", str(cfg)], capsys)
    cfg.write_text("- lstm\n")
    assert "must hold a mapping of key: value, got list" in usage_error(["run", "--config", str(cfg)], capsys)
    cfg.write_text("model: lstm\n\nhiden_size: 16\n")
    error = usage_error(["run", "--config", str(cfg)], capsys)
    assert error.startswith(f"error: config file '{cfg}' line 3: unknown config key 'hiden_size'"), error
    cfg.write_text("options:\n  n_mfcc: 1.5\n")
    error = usage_error(["run", "--config", str(cfg)], capsys)
    assert error.startswith(f"error: config file '{cfg}' line 2: bad value for 'n_mfcc': 1.5"), error
    cfg.write_text("options: {1: 2}\n")
    assert "config key 1 must be a name" in usage_error(["run", "--config", str(cfg)], capsys)
    cfg.write_text('out: "a\\x00b"\n')
    assert "'out' 'a\\x00b' holds a NUL character" in usage_error(["run", "--config", str(cfg)], capsys)


def test_yaml_alias_bombs_and_huge_values_are_one_bounded_line(tmp_path, capsys):
    """A 300-byte 'billion laughs' expanded to gigabytes and a MemoryError; aliases are counted as they
    expand and refused past 100,000 values, while a suite's ordinary alias still reads."""
    levels = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    levels += [f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]" for a, b in zip("abcdefg", "bcdefgh", strict=True)]
    cfg = tmp_path / "bomb.yaml"
    cfg.write_text("\n".join(levels) + "\n")
    error = usage_error(["run", "--config", str(cfg)], capsys)
    assert error.startswith(f"error: config file '{cfg}' line 6: aliases expand to over 100,000 values")
    cfg.write_text("model: gru\nextra: &e [1, *e]\n")
    assert "line 2: alias *e refers to itself" in usage_error(["run", "--config", str(cfg)], capsys)
    cfg.write_text("model: " + "[" * 5000 + "\n")
    assert "nests too deeply to read" in usage_error(["run", "--config", str(cfg)], capsys)
    cfg.write_text("model: &m gru\ntask: probes\ndataset: *m\n")  # an alias is fine: the value is checked
    assert "unknown dataset for task 'probes' 'gru'" in usage_error(["run", "--config", str(cfg)], capsys)
    cfg.write_text("model: " + "x" * 100_000 + "\n")  # a bad value is named, its repr cut
    error = usage_error(["run", "--config", str(cfg)], capsys)
    assert (
        error.startswith("error: unknown model 'xxx")
        and len(error) < 2100
        and error.endswith("more characters)")
    )
    cfg.write_text("# " + "x" * (1 << 20) + "\n")
    assert f"is {(1 << 20) + 3} bytes; a config file is at most" in usage_error(
        ["run", "--config", str(cfg)], capsys
    )


def test_values_too_large_to_mean_anything_are_named_before_any_work(tmp_path, capsys):
    """1e23 threads or a 1e308-minute budget overflowed a C int or a timedelta deep inside torch or
    Lightning; a field with no bound of its own is held below 2**31 (integers) or 1e9 (floats)."""
    out = tmp_path / "runs"
    for args, expected in [
        (["--threads", str(10**23)], "error: 'threads' must be below 2.15e+09 in magnitude, got 1e+23"),
        (["--seq-len", str(-(10**23))], "error: 'seq_len' must be"),
        (["--max-minutes", "1e308"], "error: 'max_minutes' must be below 1e+09 in magnitude, got 1e+308"),
        (["--lr", "1e300"], "error: 'lr' must be below 1e+09 in magnitude"),
        (["--task", "speech", "--win-ms", "1e308"], "error: 'win_ms' must be in (0, 1000), got 1e+308"),
        (["--seed", str(2**32)], "error: 'seed' must be in [0, 4294967296), got 4294967296"),
    ]:
        assert usage_error(["run", "--task", "probes", "--out", str(out), *args], capsys).startswith(expected)
    assert not out.exists()


def test_out_that_is_a_file_fails_before_training(tmp_path, capsys):
    out = tmp_path / "out.txt"
    out.write_text("not a folder")
    error = usage_error(["run", "--dataset", "dtmf", "--out", str(out)], capsys)
    assert error == f"error: 'out' {out} is a file, not a folder; pass a folder for records and checkpoints"


def test_gpu_asked_for_on_a_machine_without_one(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    error = usage_error(["run", "--dataset", "dtmf", "--accelerator", "gpu", "--out", str(tmp_path)], capsys)
    assert error.startswith("error: --accelerator gpu, but no CUDA device is visible") and not any(
        tmp_path.iterdir()
    )


@pytest.mark.parametrize("argv", [["run", "--seed", "x"], ["run", "--lr"], ["sweep"], ["nope"]])
def test_argparse_errors_are_one_line(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and err[0].startswith("error: ") and "--help" in err[0]


def test_missing_data_is_bad_input_one_line_and_nothing_written(tmp_path, capsys):
    """What a run whose data is missing leaves behind (README, Data): as for a bad flag, exit 2, the reason
    printed once, and no record or run folder (a sweep records the cell as failed with that line)."""
    assert main(["run", "--out", str(tmp_path / "runs")]) == 2
    out, err = (s.strip().splitlines() for s in capsys.readouterr())
    assert len(err) == 1 and err[0].startswith(
        "error: dataset 'fsdd' not found: looked for 'fsdd/recordings' in "
    )
    assert "BENCH_OFFLINE=1 forbids downloading" in err[0] and "set BENCH_DATA" in err[0]
    assert out == [] and [p.name for p in (tmp_path / "runs").iterdir() if p.name != "locks"] == []


def test_corrupt_wav_is_one_line(tmp_path, capsys):
    rec = tmp_path / "data" / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    sf.write(rec / "1_bob_7.wav", np.zeros(800, dtype=np.float32), 8000)
    (rec / "2_bob_0.wav").write_bytes(b"")
    assert main(["run", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: cannot read wav file ") and "2_bob_0.wav" in err[-1]


def test_listings(capsys):
    assert main(["tasks"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert sorted(lines) == tasks.names()
    assert "fsdd (default)" in lines["speech"] and "primary: acc (higher is better)" in lines["speech"]
    assert "primary: loss (lower is better)" in lines["probes"]
    assert "etth1 (default)" in lines["forecast"] and "primary: mse (lower is better)" in lines["forecast"]
    assert main(["models"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == models.names() and {
        "gru",
        "lstm",
        "rnn",
        "mingru",
        "minlstm",
        "lru",
        "transformer",
    } <= set(listed)


@pytest.mark.parametrize("sub", [[], ["run"], ["tasks"], ["models"]])
def test_help_on_every_subcommand(sub):
    res = subprocess.run(
        [sys.executable, "-m", "bench", *sub, "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert res.returncode == 0 and res.stdout.startswith("usage: bench")
    if sub == ["run"]:
        assert (
            "--clip" in res.stdout
            and "speech: datasets fsdd" in res.stdout
            and "--split: official | speaker" in res.stdout  # a task option: its help, default and rule
            and "(default 'official'; one of official | speaker)" in res.stdout
            and "(default 0.002; > 0)" in res.stdout  # a RunConfig field: --lr
        )


def test_an_output_folder_without_write_permission_is_one_line(tmp_path, capsys, monkeypatch):
    """It used to end in a PermissionError traceback. Root may write anywhere, so the refusal is simulated."""
    import os

    out = tmp_path / "locked"
    out.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(out) else real(p, mode))
    for command in (["run", "--dataset", "dtmf"], ["sweep", "ci"]):
        error = usage_error([*command, "--out", str(out)], capsys)
        assert error.startswith("error: ") and error.endswith(
            f"cannot write to the output folder '{out}' (permission denied); pass another --out"
        )
