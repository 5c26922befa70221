"""Declared dataset sources: a dataset is one declaration, and one function brings any of them into place.

A task lists its datasets by name (or `scheme:PATH` for the user's own files); a downloadable one is a `Source`
that knows its layout under a data root, its URL and checksum, what an archive holds, its own check, and its
cache key and version. `fetch` does the rest, the same way for every dataset: find it in BENCH_DATA or the
cache -> stop if BENCH_OFFLINE=1 -> download (or produce, for a hub or a library) -> verify -> extract safely
-> check -> move into place. Nothing unverified is ever moved where the next run would find it.

run: python -c "from bench.base.sources import split_scheme; print(split_scheme('csv:data/my.csv'))"
"""

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.base import datasets
from bench.base.errors import BenchError


@dataclass(frozen=True)
class Source:
    """Where a dataset lives and how to get it.

    layout: the file or folder a data root holds, e.g. "ett/ETTh1.csv"; found there, it is used as it is.
    url, sha256, sha1: the download and its checksum (sha1 only where nothing better is known).
    member: for an archive, the glob inside it of what becomes `layout`: one match is moved as it is, several
        files are gathered into the `layout` folder (an archive of loose files).
    check: raises BenchError when a fetched file or folder is not the dataset (a digest, a header, a count).
    produce: writes the dataset at the given path, for sources without a URL (a hub, a library's downloader).
    hint: what to do when there is no URL and nothing to produce it (the user's own copy).
    meta: what the task needs to know about the data (rows, sampling rate); version: part of the cache key.
    """

    name: str
    layout: str
    description: str = ""
    url: str = ""
    sha256: str | None = None
    sha1: str | None = None
    member: str = ""
    check: Callable[[Path], None] | None = None
    produce: Callable[[Path], None] | None = None
    hint: str = ""
    version: str = ""
    meta: dict = field(default_factory=dict, compare=False)

    @property
    def cache_key(self) -> str:
        """The name of cached features built from this source; a new version never reads an old cache."""
        return f"{self.name}-{self.version}" if self.version else self.name


def split_scheme(dataset: str) -> tuple[str, str]:
    """('csv', 'data/x.csv') for 'csv:data/x.csv'; ('', name) for a plain name. The one parser of names."""
    scheme, sep, rest = dataset.partition(":")
    return (scheme, rest) if sep else ("", dataset)


def fetch(source: Source) -> Path:
    """The dataset's file or folder: found under a data root, else downloaded or produced, verified, and moved
    into the cache's `layout` only once every check passed."""
    found = datasets.find(source.layout)
    if found is not None:
        return found
    if not (source.url or source.produce):
        raise datasets.missing(source.name, source.layout, source.hint)
    dest = datasets.cache_root() / source.layout
    work = dest.parent / f".{dest.name}.{os.getpid()}.part"  # beside dest: the final rename stays on one disk
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    archive = None
    try:
        if source.produce:
            datasets.allow_download(source.name, source.layout)
            _produce(source, work / "out")
        else:
            archive = datasets.download(source.name, source.layout, source.url, source.sha256, source.sha1)
            _unpack(source, archive, work)
        if source.check:
            try:
                source.check(work / "out")
            except BenchError as e:
                if archive is not None:
                    archive.unlink(missing_ok=True)
                raise BenchError(
                    f"the download of {source.name} is not the expected {_kind(work / 'out')} ({e}); removed, "
                    "run again to retry"
                ) from None
        (work / "out").rename(dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest


def _produce(source: Source, out: Path) -> None:
    try:
        source.produce(out)
    except BenchError:
        raise
    except Exception as e:  # hubs and downloaders raise many types (connection, missing config, ...)
        raise datasets.missing(source.name, source.layout, f", and fetching it failed ({e})") from None


def _unpack(source: Source, archive: Path, work: Path) -> None:
    """The download itself (a plain file) or the one `member` of the safely extracted archive, at work/out."""
    if not source.member:
        archive.replace(work / "out")  # moved out of downloads/: the verified file is the dataset
        return
    datasets.safe_extract(archive, work / "extract")
    found = sorted((work / "extract").glob(source.member))
    if len(found) == 1:
        found[0].rename(work / "out")
    elif found and all(f.is_file() for f in found):
        (work / "out").mkdir()
        for f in found:
            f.rename(work / "out" / f.name)
    else:
        archive.unlink(missing_ok=True)
        raise BenchError(
            f"the download of {source.name} ({archive.name}) holds {len(found)} matches of '{source.member}'; "
            "it was removed, run again to retry"
        )


def _kind(path: Path) -> str:
    return "folder" if path.is_dir() else "file"
