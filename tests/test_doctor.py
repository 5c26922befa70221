"""`bench doctor` and the CLI name a compiled extension that does not load in one line, with its package and fix."""

import os
import subprocess
import sys

import pytest

from bench import doctor
from bench.cli import main
from tests.conftest import ROOT

# What torchaudio 2.11.1 did beside torch 2.11.0: its import raises from loading its .so.
BROKEN_TORCHAUDIO = """raise OSError(__file__.replace("__init__.py", "lib/libtorchaudio.so")
              + ": undefined symbol: torch_exception_get_what_without_backtrace")
"""


def test_doctor_reports_every_extension_the_pins_and_the_data(capsys, shared_data):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out.splitlines()
    for dist in doctor.EXTENSIONS:
        (line,) = [x for x in out if x.startswith(f"ok {dist} ")]
        assert doctor.installed(dist) in line
    assert any(x.startswith("ok torchaudio 2.11.0 (pinned ==2.11.0): MFCC") for x in out)
    assert any(x.startswith("cpu: ") and "bf16 LSTM: " in x for x in out)
    assert any(x.startswith("cuda") for x in out)
    assert "data speech: found fsdd; to download: speechcommands-digits; offline: dtmf" in out
    assert "data lm: found tiny-shakespeare; to download: wikitext-2; offline: synthetic" in out
    assert out[-1] == "environment ok"


def test_pins_are_exact_for_packages_built_against_torch():
    pins = doctor.pins()
    assert (
        pins["torch"] == "==2.11.0" and pins["torchaudio"] == "==2.11.0" and pins["torchvision"] == "==0.26.0"
    )


def test_lock_pins_every_dependency_at_the_installed_version():
    """requirements.lock is what CI installed: every package it names for this Python is the installed one."""
    from packaging.requirements import Requirement

    pinned = 0
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if not line or line.startswith((" ", "#")):
            continue
        req = Requirement(line)
        if req.marker and not req.marker.evaluate():
            continue
        (version,) = [s.version for s in req.specifier if s.operator == "=="]
        assert doctor.installed(req.name) == version, req.name
        pinned += 1
    assert pinned > 100


@pytest.fixture
def broken_torchaudio(tmp_path):
    """A function that runs `python -m bench ARGV` in tmp_path with a torchaudio that fails to load."""
    fake = tmp_path / "site" / "torchaudio"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(BROKEN_TORCHAUDIO)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(ROOT)])}
    return lambda argv: subprocess.run(
        [sys.executable, "-m", "bench", *argv], cwd=tmp_path, env=env, capture_output=True, text=True
    )


@pytest.mark.parametrize("argv", [["run", "--task", "speech", "--dataset", "dtmf"], ["doctor"]])
def test_an_extension_that_fails_to_load_is_one_line_naming_it_and_the_fix(argv, broken_torchaudio, tmp_path):
    res = broken_torchaudio(argv)
    assert res.returncode == 1 and "Traceback" not in res.stdout + res.stderr, res.stderr
    text = res.stderr if argv[0] == "run" else res.stdout
    lines = [x for x in text.splitlines() if "torchaudio" in x]
    line = lines[0]
    assert len(lines) == 1
    assert f"torchaudio {doctor.installed('torchaudio')} failed to load (OSError: " in line
    assert "undefined symbol: torch_exception_get_what_without_backtrace" in line
    assert "seqbench pins torchaudio==2.11.0" in line and "pip install -c requirements.lock -e ." in line
    assert not (tmp_path / "runs").exists()  # nothing was written


def test_help_and_listings_load_no_extension(broken_torchaudio):
    """Only a run of the task that needs torchaudio loads it: help and the task list work without it."""
    for argv in (["run", "--help"], ["tasks"]):
        res = broken_torchaudio(argv)
        assert res.returncode == 0 and "speech" in res.stdout, res.stderr


def test_an_error_that_is_not_an_extension_is_not_explained():
    assert doctor.explain(ValueError("x")) is None
    assert doctor.explain(ImportError("no module named foo", name="foo")) is None
