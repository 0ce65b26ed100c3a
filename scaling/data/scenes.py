"""Procedural scenes: sampling, geometry (relations), validation membership, rendering.

A scene lives on a coarse GRID x GRID lattice of cells (GRID = 4). A `small` object fills one cell,
a `large` one a 2x2 block of cells; objects never share a cell, and two objects of the same colour
never touch (not even diagonally), so every object is a separate connected blob of its colour and a
caption or an answer can be read back from the pixels. Images are black with saturated colours.

Units: object positions `x`, `y` are the column and row of the object's top-left cell (0..GRID-1,
y grows downwards); an image of `image_size` S pixels has cells of S // GRID pixels.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from scaling.errors import DataError

GRID = 4
SHAPES = ("square", "circle", "triangle", "cross")
COLOURS = {
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "yellow": (1.0, 1.0, 0.0),
    "magenta": (1.0, 0.0, 1.0),
    "cyan": (0.0, 1.0, 1.0),
}
COLOUR_NAMES = tuple(COLOURS)
SIZES = ("small", "large")
SPAN = {"small": 1, "large": 2}  # side length in cells
RELATIONS = ("left of", "right of", "above", "below")
VAL_FRACTION = 0.1  # share of all possible scenes reserved for validation


class Obj(NamedTuple):
    """One object: `shape` in SHAPES, `colour` in COLOURS, `size` in SIZES, top-left cell (x, y)."""

    shape: str
    colour: str
    size: str
    x: int
    y: int


@dataclass(frozen=True)
class Scene:
    """A set of 1..4 objects, stored in canonical order (row-major by top-left cell)."""

    objects: tuple[Obj, ...]

    @property
    def key(self) -> bytes:
        """Canonical identity of the scene: order-independent bytes of its object tuple."""
        return _key(tuple(sorted(self.objects, key=lambda o: (o.y, o.x, o))))


def _key(objects: tuple[Obj, ...]) -> bytes:
    codes = []
    for o in objects:
        code = ((SHAPES.index(o.shape) * len(COLOURS) + COLOUR_NAMES.index(o.colour)) * len(SIZES)
                + SIZES.index(o.size)) * GRID * GRID + o.y * GRID + o.x
        codes.append(code.to_bytes(2, "little"))
    return b"".join(codes)


def is_val_scene(scene: Scene) -> bool:
    """True iff `scene` belongs to the validation pool: a stable blake2b hash of its key falls in
    the lowest VAL_FRACTION of buckets. Independent of Python's hash seed and of any config."""
    digest = hashlib.blake2b(scene.key, digest_size=8, person=b"scaling-val").digest()
    return int.from_bytes(digest, "little") % 1000 < int(VAL_FRACTION * 1000)


# ---------------------------------------------------------------- geometry


def box(o: Obj) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the object's cells, half-open, in cell units."""
    s = SPAN[o.size]
    return o.x, o.y, o.x + s, o.y + s


def holds(a: Obj, relation: str, b: Obj) -> bool:
    """Does `a <relation> b` hold? Strict: `a left of b` iff a's cells end before b's begin
    (no shared column), likewise for the other relations, so the answer is visible at a glance."""
    if relation == "left of":
        return a.x + SPAN[a.size] <= b.x
    if relation == "right of":
        return b.x + SPAN[b.size] <= a.x
    if relation == "above":
        return a.y + SPAN[a.size] <= b.y
    if relation == "below":
        return b.y + SPAN[b.size] <= a.y
    raise DataError(f"unknown relation {relation!r} (choose from {', '.join(RELATIONS)})")


def where(o: Obj) -> str:
    """Coarse position words of one object: 'top left', 'bottom', 'left', 'middle', ..."""
    c2x = 2 * o.x + SPAN[o.size]  # twice the centre, in cells; the image centre is at GRID
    c2y = 2 * o.y + SPAN[o.size]
    vert = "top" if c2y < GRID else "bottom" if c2y > GRID else ""
    horiz = "left" if c2x < GRID else "right" if c2x > GRID else ""
    return " ".join(w for w in (vert, horiz) if w) or "middle"


# ---------------------------------------------------------------- sampling


class Draw:
    """Cheap uniform integer draws from a NumPy Generator (buffered; deterministic given the rng).

    Calling `draw(k)` returns an int in [0, k). One `Draw` can be threaded through many scenes,
    captions and questions; its sequence depends only on the generator's state.
    """

    def __init__(self, rng: np.random.Generator, block: int = 256):
        self.rng, self.block = rng, block
        self.buf: list[float] = []
        self.i = 0

    def __call__(self, k: int) -> int:
        if self.i >= len(self.buf):
            self.buf, self.i = self.rng.random(self.block).tolist(), 0
        u = self.buf[self.i]
        self.i += 1
        return int(u * k)

    def choice(self, seq):
        return seq[self(len(seq))]


def as_draw(rng) -> Draw:
    """Accept a numpy Generator or a Draw (a Draw is passed through so callers can share it)."""
    if isinstance(rng, Draw):
        return rng
    if isinstance(rng, np.random.Generator):
        return Draw(rng, block=64)
    raise DataError(f"expected a numpy Generator, got {type(rng).__name__}")


@lru_cache(maxsize=None)
def _placements(size: str) -> tuple[tuple[int, int, int, int], ...]:
    """(x, y, cell bitmask, halo bitmask) for every placement of an object of `size`; the halo is
    the footprint dilated by one cell (8-neighbourhood)."""
    s = SPAN[size]
    out = []
    for y in range(GRID - s + 1):
        for x in range(GRID - s + 1):
            mask = halo = 0
            for cy in range(GRID):
                for cx in range(GRID):
                    bit = 1 << (cy * GRID + cx)
                    if x <= cx < x + s and y <= cy < y + s:
                        mask |= bit
                    if x - 1 <= cx <= x + s and y - 1 <= cy <= y + s:
                        halo |= bit
            out.append((x, y, mask, halo))
    return tuple(out)


def sample_objects(draw: Draw, max_objects: int) -> Scene:
    """Scene with 1..max_objects objects, uniform attributes, uniform free placement (see module)."""
    if not 1 <= max_objects <= GRID:
        raise DataError(f"max_objects must lie in 1..{GRID}, got {max_objects}")
    while True:
        n = 1 + draw(max_objects)
        occupied = 0
        halos = dict.fromkeys(COLOUR_NAMES, 0)  # cells a new object of that colour may not use
        objs = []
        for _ in range(n):
            for _try in range(8):
                shape, colour, size = draw.choice(SHAPES), draw.choice(COLOUR_NAMES), draw.choice(SIZES)
                blocked = occupied | halos[colour]
                free = [p for p in _placements(size) if not p[2] & blocked]
                if free:
                    x, y, mask, halo = draw.choice(free)
                    occupied |= mask
                    halos[colour] |= halo
                    objs.append(Obj(shape, colour, size, x, y))
                    break
            else:
                break  # no room: start the scene again
        if len(objs) == n:
            objs.sort(key=lambda o: (o.y, o.x))
            return Scene(tuple(objs))


def sample_scene(rng, data_cfg) -> Scene:
    """A random scene of 1..data_cfg.max_objects objects (train or validation pool alike)."""
    return sample_objects(as_draw(rng), data_cfg.max_objects)


def sample_pool_scene(draw: Draw, max_objects: int, val: bool) -> Scene:
    """A random scene from the validation pool (`val`) or from the training pool (rejection)."""
    while True:
        scene = sample_objects(draw, max_objects)
        if is_val_scene(scene) == val:
            return scene


# ---------------------------------------------------------------- rendering


@lru_cache(maxsize=None)
def sprite(shape: str, n: int) -> np.ndarray:
    """Boolean mask [n, n] of `shape` drawn in an n x n pixel square (pixel-centre sampling)."""
    c = (np.arange(n) + 0.5) / n * 2 - 1  # pixel centres in [-1, 1]
    v, u = np.meshgrid(c, c, indexing="ij")  # v: down, u: right
    if shape == "square":
        m = np.ones((n, n), bool)
    elif shape == "circle":
        m = u * u + v * v <= 1.0
    elif shape == "triangle":
        m = np.abs(u) <= (v + 1.3) / 2
    elif shape == "cross":
        m = np.minimum(np.abs(u - v), np.abs(u + v)) <= 0.3
    else:
        raise DataError(f"unknown shape {shape!r} (choose from {', '.join(SHAPES)})")
    m.setflags(write=False)
    return m


def cell_pixels(image_size: int) -> int:
    """Pixels per grid cell; image_size must be a multiple of GRID (and at least 4 * GRID)."""
    if image_size % GRID or image_size < 4 * GRID:
        raise DataError(f"image_size must be a multiple of {GRID} and at least {4 * GRID}, got {image_size}")
    return image_size // GRID


def render_into(out: np.ndarray, scene: Scene) -> None:
    """Paint `scene` into `out`, a float32 [S, S, 3] view (assumed black); later objects on top."""
    cell = cell_pixels(out.shape[0])
    for o in scene.objects:
        n = SPAN[o.size] * cell
        y0, x0 = o.y * cell, o.x * cell
        region = out[y0:y0 + n, x0:x0 + n]
        region[sprite(o.shape, n)] = COLOURS[o.colour]


def render(scene: Scene, image_size: int) -> np.ndarray:
    """float32 [image_size, image_size, 3] in [0, 1]: the scene on a black background."""
    out = np.zeros((image_size, image_size, 3), np.float32)
    render_into(out, scene)
    return out
