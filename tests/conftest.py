"""Shared fixtures: an isolated offline cache per test, and the real data in ../shared/data when present;
the check for the CLI's bad-input errors."""

import os
from pathlib import Path

import pytest

from bench import tasks
from bench.cli import main

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("BENCH_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def offline_cache(tmp_path, monkeypatch):
    """Every test writes its caches to its own folder and may not download."""
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "data"))
    return tmp_path / "cache"


@pytest.fixture
def shared_data(monkeypatch) -> Path:
    """The real datasets; the test is skipped (with the reason) when the folder is absent."""
    if not (SHARED / "README.md").is_file():
        pytest.skip(f"real data not found at {SHARED} (set BENCH_SHARED_DATA)")
    monkeypatch.setenv("BENCH_DATA", str(SHARED))
    return SHARED


def usage_error(argv: list[str], capsys) -> str:
    """The CLI's error line for bad input: exit code 2, one line on stderr, no traceback."""
    code = main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in out + err, (code, lines)
    return lines[0]


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    """A feature cache shared by the tests of a session, so real-data features are computed once."""
    return tmp_path_factory.mktemp("session-cache")


def write_record(cfg, status: str = "ok", **fields) -> Path:
    """A record of `cfg` as a run would write it, with `status` and the given fields, at its place."""
    from bench.records import Record, Status, record_paths, write_json

    record = Record.start(cfg, tasks.get(cfg.task))
    record.status = Status(status)
    for key, value in fields.items():
        setattr(record, key, value)
    path = record_paths(cfg)[0]
    write_json(path, record.to_json())
    return path
