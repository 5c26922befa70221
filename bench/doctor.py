"""`bench doctor`: load every compiled extension the tasks need and say, one line each, what this environment is.

A wheel built against another torch (torchaudio 2.11.1 beside torch 2.11.0) installs without complaint and
fails only at import, deep inside a task. Here each extension is loaded and exercised on its own, compared with
the version seqbench pins, and a failure is named in one line with its package and the fix.

run: python -m bench doctor
"""

import importlib.metadata as md
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

FIX = "reinstall the locked environment: pip install -c requirements.lock -e ."


def _torch() -> str:
    import torch

    return f"{(torch.ones(2, 2) @ torch.ones(2, 2)).sum().item():.0f} from a matmul"


def _torchaudio() -> str:
    import torch
    import torchaudio

    mfcc = torchaudio.transforms.MFCC(sample_rate=8000, n_mfcc=13)(torch.zeros(1, 800))
    return f"MFCC of 0.1 s at 8 kHz: {list(mfcc.shape)}"


def _torchvision() -> str:
    import torch
    import torchvision

    kept = torchvision.ops.nms(torch.tensor([[0.0, 0, 1, 1]]), torch.ones(1), 0.5)  # a compiled op
    return f"ops.nms kept {len(kept)} box"


def _av() -> str:
    import av

    av.codec.Codec("mpeg4", "r")
    return f"FFmpeg libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}"


def _soundfile() -> str:
    import io

    import numpy as np
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.zeros(80, dtype="float32"), 8000, format="WAV")
    buf.seek(0)
    return f"libsndfile {sf.__libsndfile_version__}, read back {len(sf.read(buf)[0])} samples"


# distribution -> what loads and exercises its compiled code
EXTENSIONS: dict[str, Callable[[], str]] = {
    "torch": _torch,
    "torchaudio": _torchaudio,
    "torchvision": _torchvision,
    "av": _av,
    "soundfile": _soundfile,
}
STACK = ("pytorch-lightning", "torchmetrics", "numpy")


def pins() -> dict[str, str]:
    """distribution -> the version specifier seqbench's metadata pins it to ('' where unpinned)."""
    from packaging.requirements import Requirement

    found = {}
    for text in md.requires("seqbench") or []:
        req = Requirement(text)
        if not req.marker:
            found[req.name.lower()] = str(req.specifier)
    return found


def installed(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _short(e: BaseException, limit: int = 240) -> str:
    text = " ".join(f"{type(e).__name__}: {e}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def broken(dist: str, e: BaseException) -> str:
    """The one line for an extension that failed to load: package, installed and pinned versions, error, fix."""
    version, pin = installed(dist), pins().get(dist, "")
    have = f"{dist} {version}" if version else f"{dist} (not installed)"
    wanted = f"; seqbench pins {dist}{pin}" if pin else ""
    return f"{have} failed to load ({_short(e)}){wanted}; {FIX}"


def culprit(e: BaseException) -> str | None:
    """The checked distribution whose code raised `e` (an import-time failure inside a task), or None."""
    if isinstance(e, ImportError) and e.name:
        top = e.name.split(".")[0]
        if top in EXTENSIONS:
            return top
    places = [f.filename for f in traceback.extract_tb(e.__traceback__)] + [str(e)]
    for place in reversed(places):  # the innermost frame first, then the message (a .so path)
        parts = Path(place).parts
        for dist in EXTENSIONS:
            if dist != "torch" and dist in parts:
                return dist
    return "torch" if any("torch" in Path(p).parts for p in places) else None


def explain(e: BaseException) -> str | None:
    """The doctor's line for a failure to load a compiled extension, or None if `e` is something else."""
    if not isinstance(e, ImportError | OSError):
        return None
    dist = culprit(e)
    return broken(dist, e) + " (then: python -m bench doctor)" if dist else None


def report() -> tuple[list[str], int]:
    """The doctor's lines and how many problems they name."""
    lines, problems = [f"python {sys.version.split()[0]} at {sys.executable}"], 0
    want = pins()
    for dist, check in EXTENSIONS.items():
        version = installed(dist)
        try:
            detail = check()
        except Exception as e:  # an OSError from a .so, an ImportError, a RuntimeError from an op
            lines.append(f"BROKEN {broken(dist, e)}")
            problems += 1
            continue
        pin = want.get(dist, "")
        off = pin and not _matches(version, pin)
        problems += bool(off)
        lines.append(
            f"{'MISMATCH' if off else 'ok'} {dist} {version}{f' (pinned {pin})' if pin else ''}: {detail}"
        )
    for dist in STACK:
        version, pin = installed(dist), want.get(dist, "")
        off = version is None or (pin and not _matches(version, pin))
        problems += bool(off)
        lines.append(f"{'MISMATCH' if off else 'ok'} {dist} {version}{f' (pinned {pin})' if pin else ''}")
    for part in (
        _hardware,
        _data,
    ):  # each needs torch or the tasks: a broken one is one line, not a traceback
        try:
            lines += part()
        except Exception as e:
            lines.append(f"BROKEN {part.__name__[1:]}: not checked ({_short(e)})")
            problems += 1
    return lines, problems


def _matches(version: str | None, pin: str) -> bool:
    from packaging.specifiers import SpecifierSet

    return version is not None and version in SpecifierSet(pin)


def _hardware() -> list[str]:
    import torch

    from bench.hardware import cpu_rnn_kernel, usable_cores

    cores, where = usable_cores()
    bf16 = cpu_rnn_kernel("lstm", torch.bfloat16)
    bf16_text = {
        "onednn": "oneDNN's fused kernel",
        "native": "torch's native path (no oneDNN bf16 LSTM here)",
    }
    lines = [
        f"cpu: {torch.backends.cpu.get_cpu_capability()}, {cores} usable cores ({where}), torch threads "
        f"{torch.get_num_threads()}; bf16 LSTM: {bf16_text.get(bf16, 'not supported')}"
    ]
    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        lines.append(f"cuda {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}: {names}")
    else:
        lines.append(f"cuda: no GPU visible (torch built for CUDA {torch.version.cuda or 'none'})")
    return lines


def _data() -> list[str]:
    from bench import tasks
    from bench.base import datasets

    roots = ", ".join(str(r) for r in datasets.data_roots())
    lines = [f"data folders (BENCH_DATA, BENCH_CACHE, default): {roots}"]
    for name in tasks.names():
        task = tasks.get(name)
        held, missing = [], []
        for dataset in task.datasets:
            source = task.source(dataset)
            if source is not None:
                (held if datasets.find(source.layout) else missing).append(dataset)
        if not held and not missing:
            lines.append(f"data {name}: generated, nothing to fetch ({', '.join(task.datasets)})")
            continue
        offline = f"; offline: {task.offline_dataset}" if task.offline_dataset else ""
        lines.append(
            f"data {name}: found {', '.join(held) or 'none'}; to download: {', '.join(missing) or 'none'}{offline}"
        )
    return lines


def cmd_doctor(args, extras) -> int:
    lines, problems = report()
    print("\n".join(lines))
    print(f"{problems} problem(s)" if problems else "environment ok")
    return 1 if problems else 0
