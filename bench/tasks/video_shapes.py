"""moving-shapes: procedural action clips, deterministic from a seed, with classes that only time can tell apart.

A coloured shape (triangle, rectangle, ellipse or L; random colour, size, angle, position and speed) acts on a
dark noisy background while a grey disc drifts and bounces as a distractor. Ten of the thirteen classes come in
pairs whose second member is exactly the first played backwards (same random draws, frames reversed): moving
right / left, down / up, growing / shrinking, clockwise / counter-clockwise rotation (a rigid turn about a
pivot off the shape), a blink early / late.
Any single frame, and even the whole set of frames, is equally likely under both members of a pair, so only
the order of the frames tells them apart. The other three (still, flicker, jitter) differ in what their
frames show, so a model that ignores order can still tell them apart: the control group.

run: python -c "from bench.tasks.video_shapes import generate; print(generate(2, 16, 32, seed=1)[0].shape)"
"""

from __future__ import annotations

import colorsys
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import torch


CLASSES = [
    "move-right",
    "move-left",
    "move-down",
    "move-up",
    "grow",
    "shrink",
    "rotate-cw",
    "rotate-ccw",
    "blink-early",
    "blink-late",
    "still",
    "flicker",
    "jitter",
]
# Each temporal class and its time-reversed twin; the first of a pair is the one that is rendered.
TWINS = {0: 1, 2: 3, 4: 5, 6: 7, 8: 9}
TWIN = {**TWINS, **{b: a for a, b in TWINS.items()}}
TEMPORAL = sorted(TWIN)  # classes no frame, nor set of frames, can tell apart from their twin
REST = [c for c in range(len(CLASSES)) if c not in TWIN]
MIN_FRAMES = 4  # an early blink starts after the first frame and ends within the first half


def _parts(kind: int) -> list[np.ndarray]:
    """A shape of radius about 1 around the origin as convex polygons, each [P, 2] counter-clockwise."""
    import numpy as np

    if kind == 0:  # triangle
        a = np.deg2rad([90, 210, 330])
        return [np.stack([np.cos(a), np.sin(a)], 1)]
    if kind == 1:  # rectangle, 2:1
        return [np.array([[-1, -0.5], [1, -0.5], [1, 0.5], [-1, 0.5]])]
    if kind == 2:  # ellipse, 2:1
        a = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        return [np.stack([np.cos(a), 0.5 * np.sin(a)], 1)]
    # L (no symmetry): two rectangles
    return [
        np.array([[-1, -1], [0, -1], [0, 1], [-1, 1]]) * 0.85,
        np.array([[0, 0.2], [1, 0.2], [1, 1], [0, 1]]) * 0.85,
    ]


SHAPES = 4


def _grid(size: int) -> np.ndarray:
    """Pixel centres: x and y, each [S, S]."""
    import numpy as np

    c = np.arange(size, dtype=np.float32) + 0.5
    return np.stack(np.meshgrid(c, c, indexing="xy"))


def _polygon_cover(vertices: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Coverage in [0, 1] of convex polygons [T, P, 2] (counter-clockwise) over pixels: [T, S, S].

    The signed distance to the nearest edge, plus half a pixel, clamped: smooth edges, so sub-pixel motion shows.
    """
    import numpy as np

    edge = np.roll(vertices, -1, axis=1) - vertices  # [T, P, 2]
    normal = (
        np.stack([-edge[..., 1], edge[..., 0]], -1) / np.linalg.norm(edge, axis=-1, keepdims=True)
    ).astype(np.float32)
    offset = (normal * vertices).sum(-1, dtype=np.float32) - 0.5  # [T, P]
    nx, ny, off = (a[..., None, None] for a in (normal[..., 0], normal[..., 1], offset))
    inside = (grid[0] * nx + grid[1] * ny - off).min(1)  # [T, S, S]: distance inside the nearest edge
    return np.clip(inside, 0, 1)


def _disc_cover(centres: np.ndarray, radius: float, grid: np.ndarray) -> np.ndarray:
    """Coverage of discs with centres [T, 2]: [T, S, S]."""
    import numpy as np

    dx = grid[0] - centres[:, 0, None, None].astype(np.float32)  # [T, S, S]
    dy = grid[1] - centres[:, 1, None, None].astype(np.float32)
    return np.clip(np.float32(radius + 0.5) - np.sqrt(dx * dx + dy * dy), 0, 1)


def _bounce(start: np.ndarray, velocity: np.ndarray, frames: int, lo: float, hi: float) -> np.ndarray:
    """Positions [T, 2] of a point moving at constant velocity, reflected at lo and hi."""
    import numpy as np

    span = hi - lo
    p = (start - lo) + velocity * np.arange(frames)[:, None]
    p = np.mod(p, 2 * span)
    return lo + np.where(p > span, 2 * span - p, p)


def _target(cls: int, rng: np.random.Generator, frames: int, size: int):
    """Per-frame centre [T, 2], radius [T], angle [T] (radians) and visibility [T] of the acting shape."""
    import numpy as np

    t = np.arange(frames)
    radius = np.full(frames, rng.uniform(0.15, 0.22) * size)
    angle = np.full(frames, rng.uniform(0, 2 * np.pi))
    visible = np.ones(frames, dtype=bool)
    r = radius[0]
    centre = np.tile(rng.uniform(r, size - r, 2), (frames, 1))
    if cls in (0, 2):  # move right (x) or down (y)
        axis = 0 if cls == 0 else 1
        travel = rng.uniform(0.3, 0.5) * size
        start = rng.uniform(r, size - r - travel)
        centre[:, axis] = start + travel * t / (frames - 1)
    elif cls == 4:  # grow, at a steady rate
        r0 = rng.uniform(0.08, 0.11) * size
        radius = r0 * rng.uniform(1.8, 2.4) ** (t / (frames - 1))
        centre = np.tile(rng.uniform(radius[-1], size - radius[-1], 2), (frames, 1))
    elif cls == 6:  # rigid rotation, clockwise on screen, about a pivot off the shape: it circles and turns
        arm = rng.uniform(0.15, 0.22) * size
        pivot = rng.uniform(r + arm, size - r - arm, 2)
        turn = np.deg2rad(rng.uniform(20, 40)) * t  # < 60 deg a frame: the sense shows
        start = rng.uniform(0, 2 * np.pi)
        centre = pivot + arm * np.stack([np.cos(start + turn), np.sin(start + turn)], 1)
        angle = angle + turn
    elif cls == 8:  # blink early: hidden for a quarter of the clip, inside the first half
        hide = max(1, round(frames / 4))
        first = rng.integers(1, frames // 2 - hide + 1)
        visible[first : first + hide] = False
    elif cls == 11:  # flicker: every other frame
        visible[(t + rng.integers(0, 2)) % 2 == 1] = False
    elif cls == 12:  # jitter: a random jump around a point every frame
        reach = 0.2 * size
        centre = rng.uniform(r + reach, size - r - reach, 2) + rng.uniform(-reach, reach, (frames, 2))
    return centre, radius, angle, visible


def render_clip(cls: int, rng: np.random.Generator, frames: int, size: int) -> np.ndarray:
    """One clip of class `cls`, uint8 [T, 3, S, S]. A reversed twin draws what its pair draws, then flips time."""
    import numpy as np

    base = min(cls, TWIN.get(cls, cls))
    kind = int(rng.integers(SHAPES))
    centre, radius, angle, visible = _target(base, rng, frames, size)
    colour = np.float32(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.7, 1), rng.uniform(0.75, 1)))
    background = np.float32(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0, 0.5), rng.uniform(0, 0.35)))
    grey, disc = np.float32(rng.uniform(0.45, 0.65)), rng.uniform(0.05, 0.08) * size
    heading, speed = rng.uniform(0, 2 * np.pi), rng.uniform(0.02, 0.05) * size
    drift = _bounce(
        rng.uniform(disc, size - disc, 2),
        speed * np.array([math.cos(heading), math.sin(heading)]),
        frames,
        disc,
        size - disc,
    )
    sigma = np.float32(rng.uniform(0.02, 0.06))
    noise = rng.standard_normal((frames, size, size, 3), dtype=np.float32) * sigma
    grid = _grid(size)
    c, s = np.cos(angle), np.sin(angle)
    rotation = np.stack([np.stack([c, s], -1), np.stack([-s, c], -1)], -2)  # [T, 2, 2]: screen-clockwise
    shape = np.zeros((frames, size, size), dtype=np.float32)
    for part in _parts(kind):
        placed = part @ rotation * radius[:, None, None] + centre[:, None]  # [T, P, 2]
        shape = np.maximum(shape, _polygon_cover(placed, grid))
    shape = (shape * visible[:, None, None])[..., None]  # [T, S, S, 1]
    dot = _disc_cover(drift, disc, grid)[..., None]
    clip = noise + background  # [T, S, S, 3]
    clip += (grey - clip) * dot  # the distractor over the background, the shape over both
    clip += (colour - clip) * shape
    clip = np.clip(clip * 255 + 0.5, 0, 255).astype(np.uint8).transpose(0, 3, 1, 2)  # [T, 3, S, S]
    return clip[::-1].copy() if cls != base else clip


def generate(n_per_class: int, frames: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A balanced set: x uint8 [N, T, 3, S, S], y [N] with N = n_per_class * 13; clip i uses its own stream."""
    import numpy as np
    import torch

    k = len(CLASSES)
    labels = np.arange(n_per_class * k) % k
    x = np.stack(
        [render_clip(int(c), np.random.default_rng([seed, i]), frames, size) for i, c in enumerate(labels)]
    )
    return torch.from_numpy(x), torch.from_numpy(labels)
