"""Video decoding with PyAV: T frames sampled uniformly per clip (short clips loop), resized and centre-cropped.

Unreadable videos and videos without frames are named: skipped with a counted warning (`--bad-videos skip`,
the default) or an error (`--bad-videos fail`), on every run, also when the clips come from the cache. Never
dropped silently.

run: python -c "from bench.tasks.video_io import sample_indices; print(sample_indices(10, 4), sample_indices(3, 7))"
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bench.base.errors import BenchError

if TYPE_CHECKING:
    import numpy as np

BAD_VIDEOS = ("skip", "fail")


def sample_indices(n: int, frames: int) -> list[int]:
    """`frames` indices into a clip of `n` frames: the centres of `frames` equal segments; short clips loop."""
    if n <= 0 or frames <= 0:
        raise ValueError(f"need a positive frame count and clip length, got n={n}, frames={frames}")
    if n < frames:
        return [i % n for i in range(frames)]
    return [(2 * i + 1) * n // (2 * frames) for i in range(frames)]


class UnreadableVideo(Exception):
    def __init__(self, path: Path, why: str):
        super().__init__(f"{path} ({why})")
        self.path, self.why = path, why


def _square(frame, size: int) -> np.ndarray:  # frame: av.VideoFrame
    """RGB uint8 [S, S, 3]: the shorter side scaled to `size` (swscale's area filter), the centre cropped."""
    w, h = frame.width, frame.height
    scale = size / min(w, h)
    sw, sh = max(size, round(w * scale)), max(size, round(h * scale))
    rgb = frame.to_ndarray(width=sw, height=sh, format="rgb24", interpolation="AREA")  # [sh, sw, 3]
    top, left = (sh - size) // 2, (sw - size) // 2
    return rgb[top : top + size, left : left + size]


def decode_clip(path: Path, frames: int, size: int) -> np.ndarray:
    """uint8 [T, 3, S, S] of one video; UnreadableVideo when PyAV cannot read it or it has no frames."""
    import av  # here, not at the top: a run of another task never loads FFmpeg
    import numpy as np

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise UnreadableVideo(path, "no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            images = [_square(f, size) for f in container.decode(stream)]  # small: resized as decoded
    except UnreadableVideo:
        raise
    except Exception as e:  # PyAV raises FFmpegError subclasses, OSError and ValueError for broken files
        raise UnreadableVideo(path, f"{type(e).__name__}: {e}") from None
    if not images:
        raise UnreadableVideo(path, "zero frames")
    picked = np.stack([images[i] for i in sample_indices(len(images), frames)])  # [T, S, S, 3]
    return picked.transpose(0, 3, 1, 2)


def decode_all(paths: list[Path], frames: int, size: int) -> tuple[np.ndarray, list[int], list[str]]:
    """Decode every video: (clips uint8 [N_ok, T, 3, S, S], indices of the decoded paths, 'path (why)' of the rest)."""
    import numpy as np

    clips, kept, skipped = [], [], []
    print(
        f"decoding {len(paths)} videos into {frames} frames of {size}x{size} (once: cached)", file=sys.stderr
    )
    for i, path in enumerate(paths):
        if sys.stderr.isatty():
            print(f"\rdecoding videos: {i + 1}/{len(paths)}", end="", file=sys.stderr, flush=True)
        try:
            clips.append(decode_clip(path, frames, size))
            kept.append(i)
        except UnreadableVideo as e:
            skipped.append(str(e))
    if sys.stderr.isatty():
        print(file=sys.stderr)
    empty = np.zeros((0, frames, 3, size, size), dtype=np.uint8)
    return (np.stack(clips) if clips else empty), kept, skipped


def report_skipped(skipped: list[str], total: int, bad_videos: str) -> None:
    """Unreadable videos, named (the first five) and counted: one warning line, or an error with --bad-videos fail."""
    if not skipped:
        return
    if bad_videos == "fail":
        raise BenchError(
            f"cannot read {len(skipped)} of {total} videos, first {skipped[0]}; delete or replace them, "
            "or pass --bad-videos skip"
        )
    names = "; ".join(skipped[:5]) + ("; ..." if len(skipped) > 5 else "")
    print(
        f"warning: skipped {len(skipped)} of {total} videos that could not be read: {names}", file=sys.stderr
    )


def stratified_split(labels: list[int], fractions: dict[str, float], seed: int = 0) -> list[str]:
    """A split name per item: per class, a share `fractions[s]` goes to split s (at least one when the class
    has three or more items), the rest to train. Fixed seed: the split is the same for every run seed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = ["train"] * len(labels)
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    for rows in by_class.values():
        order = [rows[j] for j in rng.permutation(len(rows))]
        for split, share in fractions.items():
            n = round(len(rows) * share)
            n = max(n, 1) if share > 0 and len(rows) >= 3 else n
            for i in order[:n]:
                out[i] = split
            order = order[n:]
    return out
