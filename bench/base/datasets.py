"""Where data lives: look in BENCH_DATA and the cache first, download only what is missing, verify, extract safely.

BENCH_DATA (default ~/.cache/seqbench) is searched first; downloads and preprocessed features go to the
first writable of BENCH_CACHE, BENCH_DATA, ~/.cache/seqbench, so a read-only data copy (../shared/data)
works as is. BENCH_OFFLINE=1 forbids downloads.

run: BENCH_DATA=../shared/data python -c "from bench.base.datasets import find; print(find('fsdd/recordings'))"
"""

import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from bench.base.errors import BenchError

DEFAULT_ROOT = Path.home() / ".cache" / "seqbench"


def data_roots() -> list[Path]:
    roots = [Path(p).expanduser() for p in (os.environ.get("BENCH_DATA"), os.environ.get("BENCH_CACHE")) if p]
    roots.append(DEFAULT_ROOT)
    return list(dict.fromkeys(r.resolve() for r in roots))


def cache_root() -> Path:
    """The first writable root: where downloads and feature caches are written."""
    for candidate in (os.environ.get("BENCH_CACHE"), os.environ.get("BENCH_DATA"), str(DEFAULT_ROOT)):
        if not candidate:
            continue
        root = Path(candidate).expanduser()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(root, os.W_OK):
            return root
    raise BenchError("no writable cache folder: set BENCH_CACHE to a folder you can write")


def find(relpath: str) -> Path | None:
    """The first root that holds `relpath`, or None."""
    for root in data_roots():
        if (root / relpath).exists():
            return root / relpath
    return None


def missing(dataset: str, relpath: str, why: str = "") -> BenchError:
    roots = ", ".join(str(r) for r in data_roots())
    return BenchError(
        f"dataset '{dataset}' not found: looked for '{relpath}' in {roots}{why}; "
        f"put a copy there or set BENCH_DATA to a folder that holds '{relpath}'"
    )


def allow_download(dataset: str, relpath: str) -> None:
    """The one check of BENCH_OFFLINE: with it set to 1, a missing dataset stops here, named."""
    if os.environ.get("BENCH_OFFLINE") == "1":
        raise missing(dataset, relpath, " and BENCH_OFFLINE=1 forbids downloading")


def file_digest(path: Path, algo: str = "sha256") -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _digest_file(path: Path) -> Path:
    return Path(f"{path}.sha256")


def write_digest(path: Path, digest: str) -> None:
    """Beside `path`, `<path>.sha256`: the digest of what was written, written after it (a crash between the
    two leaves no digest, which reads as unverified, never as verified)."""
    side = _digest_file(path)
    tmp = side.with_name(f".{side.name}.{os.getpid()}.tmp")
    tmp.write_text(digest)
    tmp.replace(side)


def digest_problem(path: Path, data: bytes | None = None) -> str:
    """'' when `path` (or its bytes, already read) matches the digest beside it; else what is wrong."""
    side = _digest_file(path)
    if not side.is_file():
        return "it has no digest beside it (written by an older seqbench, or cut off while being written)"
    actual = hashlib.sha256(data).hexdigest() if data is not None else file_digest(path)
    return "" if side.read_text().strip() == actual else "its contents do not match their digest"


def remove_with_digest(path: Path) -> None:
    path.unlink(missing_ok=True)
    _digest_file(path).unlink(missing_ok=True)


def download(
    dataset: str, relpath: str, url: str, sha256: str | None = None, sha1: str | None = None
) -> Path:
    """Download `url` into the cache, check its sha256 (or sha1, where only that is known) before it is moved
    into place, and return the file's path. A download without a known checksum gets a digest of its own,
    checked when it is reused. A cached download that fails its check is removed."""
    dest = cache_root() / "downloads" / url.rsplit("/", 1)[-1]
    if dest.exists():
        if sha256 or sha1:
            why = "" if _verified(dest, sha256, sha1) else "failed its checksum"
        else:  # no published checksum: the digest written when it was downloaded
            why = digest_problem(dest)
        if not why:
            return dest
        remove_with_digest(dest)
        print(f"warning: cached download {dest}: {why}; removed, downloading again", file=sys.stderr)
    allow_download(dataset, relpath)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + f".{os.getpid()}.part")
    print(f"downloading {dataset} from {url}")
    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f)
    except (urllib.error.URLError, OSError) as e:
        tmp.unlink(missing_ok=True)
        raise missing(
            dataset, relpath, f", and downloading {url} failed ({getattr(e, 'reason', e)})"
        ) from None
    if not _verified(tmp, sha256, sha1):
        tmp.unlink()
        raise BenchError(
            f"checksum mismatch for {url} (dataset '{dataset}'); the corrupt download was removed, "
            "run again to retry"
        )
    digest = None if sha256 or sha1 else file_digest(tmp)
    tmp.replace(dest)
    if digest:
        write_digest(dest, digest)
    return dest


def _verified(path: Path, sha256: str | None, sha1: str | None) -> bool:
    return not (sha256 and file_digest(path) != sha256) and not (sha1 and file_digest(path, "sha1") != sha1)


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract a tar or zip archive, refusing any member that would land outside `dest`. A damaged archive (cut
    short, not an archive) is named and removed, so the next run downloads it again instead of failing forever."""
    try:
        _extract(archive, dest)
    except tarfile.FilterError as e:  # the data filter's own refusals: absolute links, devices, ...
        raise BenchError(f"refusing to extract from {archive}: {e}") from None
    except (EOFError, tarfile.ReadError, zipfile.BadZipFile, zlib.error) as e:  # zlib: a gzip cut short
        remove_with_digest(archive)
        raise BenchError(
            f"the archive {archive} is damaged ({type(e).__name__}: {' '.join(str(e).split())[:200]}); "
            "removed, run again to download it again"
        ) from None


def _extract(archive: Path, dest: Path) -> None:
    dest = dest.resolve()
    dest.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                if not (dest / name).resolve().is_relative_to(dest):
                    raise BenchError(f"refusing to extract '{name}' from {archive}: it points outside {dest}")
            z.extractall(dest)
        return
    with tarfile.open(archive) as t:
        for m in t.getmembers():
            target = (dest / m.name).resolve()
            link_ok = not (m.issym() or m.islnk()) or (target.parent / m.linkname).resolve().is_relative_to(
                dest
            )
            if not target.is_relative_to(dest) or not link_ok:
                raise BenchError(f"refusing to extract '{m.name}' from {archive}: it points outside {dest}")
        t.extractall(dest, filter="data")


def cached_tensors(name: str, params: dict, build: Callable[[], dict]) -> dict:
    """Load `build()`'s tensors from the cache keyed by `params`, or build and save them once (atomically, with
    their digest beside them). A cache file whose digest does not match, or that will not load, is named,
    removed and rebuilt: damaged features must not train a model quietly."""
    import torch

    key = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = cache_root() / "features" / f"{name}-{key}.pt"
    if path.exists():
        data = path.read_bytes()
        why = digest_problem(path, data)
        if not why:
            try:
                loaded = torch.load(io.BytesIO(data), weights_only=True)
                if isinstance(loaded, dict):
                    return loaded
                why = f"it holds a {type(loaded).__name__}, not the features"
            except Exception as e:  # zip, pickle and EOF errors come in many types
                why = f"it is unreadable ({type(e).__name__})"
        remove_with_digest(path)
        print(f"warning: cached features {path}: {why}; removed, rebuilding", file=sys.stderr)
    data = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    saved = io.BytesIO()
    torch.save(data, saved)
    tmp.write_bytes(saved.getbuffer())
    tmp.replace(path)
    write_digest(path, hashlib.sha256(saved.getbuffer()).hexdigest())  # of the bytes written, not read back
    return data
