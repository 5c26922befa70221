"""Declared dataset sources: one parser of scheme:PATH, one fetch (find, offline, download, verify, extract,
check, move into place), and a new dataset for an existing task as one declaration."""

import csv
import hashlib
import zipfile
from datetime import datetime, timedelta

import pytest

from bench import tasks
from bench.base.errors import BenchError
from bench.base.sources import Source, fetch, split_scheme
from bench.config import resolve


def test_one_parser_for_scheme_names():
    assert split_scheme("csv:data/my.csv") == ("csv", "data/my.csv")
    assert split_scheme("videofolder:C:/clips") == ("videofolder", "C:/clips")  # only the first colon
    assert split_scheme("text:") == ("text", "")
    assert split_scheme("etth1") == ("", "etth1")


def test_found_copy_is_used_as_it_is(tmp_path):
    (tmp_path / "data" / "mine").mkdir(parents=True)
    (tmp_path / "data" / "mine" / "a.txt").write_text("x")
    source = Source("mine", "mine/a.txt", url="http://127.0.0.1:9/a.txt", sha256="0" * 64)
    assert fetch(source) == tmp_path / "data" / "mine" / "a.txt"  # no download, no check of a local copy


def test_offline_and_undownloadable_sources_name_the_dataset():
    with pytest.raises(
        BenchError, match=r"dataset 'mine' not found: looked for 'mine/a.txt'.*BENCH_OFFLINE=1"
    ):
        fetch(Source("mine", "mine/a.txt", url="http://127.0.0.1:9/a.txt"))
    with pytest.raises(BenchError, match=r"dataset 'own' not found: .*; use --data-dir"):
        fetch(Source("own", "own/x", hint="; use --data-dir"))


def test_archive_of_loose_files_is_verified_checked_and_gathered(tmp_path, monkeypatch, offline_cache):
    archive = tmp_path / "www" / "clips.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as z:
        for name in ("a/1.avi", "b/2.avi", "readme.txt"):
            z.writestr(name, name)
    sha1 = hashlib.sha1(archive.read_bytes()).hexdigest()
    monkeypatch.setenv("BENCH_OFFLINE", "0")
    refused = Source("clips", "clips/all", url=archive.as_uri(), sha1=sha1, member="**/*.avi", check=_refuse)
    with pytest.raises(
        BenchError, match=r"the download of clips is not the expected folder \(too few\); removed"
    ):
        fetch(refused)
    assert not (offline_cache / "clips" / "all").exists() and list((offline_cache / "clips").iterdir()) == []
    root = fetch(Source("clips", "clips/all", url=archive.as_uri(), sha1=sha1, member="**/*.avi"))
    assert root == offline_cache / "clips" / "all" and sorted(p.name for p in root.iterdir()) == [
        "1.avi",
        "2.avi",
    ]


def _refuse(path):
    raise BenchError("too few")


def test_a_new_dataset_is_one_declaration(tmp_path, monkeypatch, offline_cache):
    """A CSV declared in the forecast task's datasets is fetched, verified and read: no other edit."""
    src = tmp_path / "www" / "load.csv"
    src.parent.mkdir()
    start = datetime(2020, 1, 1)
    with open(src, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["date", "load", "OT"])
        w.writerows(
            [(start + timedelta(hours=i)).isoformat(" "), i % 24, (i % 24) / 2 + (i * 7919 % 13) / 10]
            for i in range(2000)
        )
    task = tasks.get("forecast")
    declared = Source("load", "load/load.csv", "hourly load", url=src.as_uri(), sha256=_sha256(src))
    monkeypatch.setitem(task.datasets, "load", declared)
    monkeypatch.setenv("BENCH_OFFLINE", "0")
    cfg = resolve({"task": "forecast", "dataset": "load", "input_len": 48, "horizon": 4})
    task.prepare(cfg)
    assert (offline_cache / "load" / "load.csv").read_bytes() == src.read_bytes()
    splits, info = task.load(cfg)
    assert sum(len(s["y"]) for s in splits.values()) > 0


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_unsafe_archive_members_are_refused_in_one_line(tmp_path):
    """A member that climbs out of the folder, and a FIFO (refused by tarfile's data filter, whose error used to
    surface as a tarfile traceback): both are the project's one-line error, and nothing lands outside."""
    import io
    import tarfile

    from bench.base.datasets import safe_extract

    for name, kind, message in [
        ("../evil.txt", tarfile.REGTYPE, r"refusing to extract '\.\./evil\.txt' from .*: it points outside"),
        ("pipe", tarfile.FIFOTYPE, r"refusing to extract from .*unsafe\.tar: .*pipe"),
    ]:
        archive = tmp_path / "unsafe.tar"
        with tarfile.open(archive, "w") as t:
            member = tarfile.TarInfo(name)
            member.type = kind
            t.addfile(member, io.BytesIO(b"") if kind == tarfile.REGTYPE else None)
        with pytest.raises(BenchError, match=message):
            safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()
