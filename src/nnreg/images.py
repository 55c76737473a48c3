"""A picture file (PNG, JPEG, anything Pillow opens) made into a network's input, the way
its training data were made.

Three steps, each a formula:

1. **Grey.** The picture is read as grey levels g in [0, 1] (Pillow's luma
   L = 0.299·R + 0.587·G + 0.114·B, ÷ 255; 16-bit grey ÷ 65535). Transparent pixels are
   laid on white paper first (a drawing exported from a web canvas has a transparent
   background), and a phone photo is turned upright by its EXIF orientation.
2. **Ink.** The training images are light ink on black (MNIST, Fashion-MNIST, the 8×8
   digits), so the paper must come out 0. The paper is the median grey of the picture's
   outermost ring of pixels: paper p > 0.5 means dark ink on light paper, and the ink is
   p − g; otherwise it is g − p (clipped at 0).
3. **Framing.** A picture already the network's size (28×28 for 784 inputs, 8×8 for 64)
   is taken as it is — only inverted when its paper is light. Any other picture is framed
   as its data set was: the ink is stretched so that its darkest stroke is 1, levels below
   :data:`PAPER_NOISE` count as paper, the ink's bounding box is resized (keeping its
   aspect ratio) to fit a box, and the box is placed in the side × side field — see
   :data:`FRAMINGS`.

Last, every input is rounded to the training data's own levels: x = round(c·ink) / c with
c the data set's divisor (255 for MNIST's bytes, 16 for the digits' counts), so an 8-bit
PNG of an MNIST image gives back exactly its training input p / 255.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

PAPER_NOISE = 0.2
"""Ink below this (after stretching the darkest stroke to 1) is paper: texture, shadow,
JPEG noise; it would otherwise widen the bounding box."""
MAX_SIDE = 1024
"""A bigger picture is shrunk to this longer side first (by area averaging): framing needs
at most a few dozen pixels of the ink, and a 48-megapixel photo would take 400 MB."""
LIGHT_PAPER = 0.5


class InputFileError(ValueError):
    """A file that cannot be made into the network's input; the message names the file
    and says what to give instead."""


@dataclass(frozen=True)
class Framing:
    """How a data set's images were made, as :func:`frame` repeats it.

    ``box_fraction``: the ink's bounding box is resized to fit a box of
    round(box_fraction · side) pixels, keeping its aspect ratio. ``centre``: ``"mass"``
    places the ink's centre of mass (index coordinates, ink-weighted) on (side/2, side/2),
    shifted by whole pixels; ``"box"`` centres the bounding box. ``divisor``: the training
    inputs are integer codes / divisor (see :class:`~nnreg.datasets.Dataset`).
    """

    name: str
    box_fraction: float
    centre: str
    divisor: float


FRAMINGS = {
    # LeCun et al.: size-normalised to fit 20×20 keeping the aspect ratio (anti-aliased),
    # then centred by centre of mass in 28×28; pixels ÷ 255 (nnreg.datasets.folders)
    "mnist": Framing("mnist", 20 / 28, "mass", 255.0),
    # Xiao et al.: trimmed, the longer side resized to 28, centred; pixels ÷ 255
    "fashion-mnist": Framing("fashion-mnist", 1.0, "box", 255.0),
    # UCI optdigits: the digit normalised to fill a 32×32 bitmap, counted in 4×4 blocks
    # (0–16); nnreg.datasets.digits divides by 16. Every digit is 8 rows tall there.
    "digits": Framing("digits", 1.0, "box", 16.0),
}
"""Framing per training data set; a folder of IDX files is framed as MNIST."""


def picture_input(path: str | Path, side: int, framing: Framing) -> tuple[np.ndarray, str]:
    """The picture in ``path`` as one side × side input, flattened row by row, with a few
    words on how it was prepared (see the module docstring for the formulas)."""
    path = Path(path)
    grey = read_grey(path)
    paper = float(np.median(_border(grey)))
    light_paper = paper > LIGHT_PAPER
    inverted = "inverted (light paper), " if light_paper else ""
    if grey.shape == (side, side):
        # already the network's size: exactly the pixels given, against black paper
        ink = 1.0 - grey if light_paper else grey
        how = f"{inverted}{side}×{side} as it is"
    else:
        ink = np.clip(paper - grey if light_paper else grey - paper, 0.0, None)
        ink = frame(_stretched(ink, path), side, framing)
        box = _box_size(side, framing)
        centre = "centre of mass" if framing.centre == "mass" else "bounding box"
        how = f"{inverted}ink fitted into {box}×{box}, centred by {centre} in {side}×{side}"
    codes = np.round(ink * framing.divisor)
    return (codes / framing.divisor).reshape(-1), how


def read_grey(path: Path) -> np.ndarray:
    """The picture's grey levels in [0, 1], shape (height, width); :class:`InputFileError`
    when Pillow cannot open or decode it (no Pillow traceback)."""
    from PIL import Image, ImageOps, UnidentifiedImageError  # loaded when first needed

    try:
        with Image.open(path) as image:
            image.draft("L", (MAX_SIDE, MAX_SIDE))  # a JPEG decodes smaller, much faster
            image = ImageOps.exif_transpose(image)
            grey = _grey_levels(image, Image)
    except UnidentifiedImageError:
        raise InputFileError(
            f"{path} is not a picture Pillow can open, nor a .npy or IDX file: give PNG or "
            "JPEG pictures (or any format Pillow reads), .npy arrays or IDX files"
        ) from None
    except Exception as error:  # noqa: BLE001 - decoders raise OS, syntax, zlib, value errors
        raise InputFileError(
            f"{path} is a damaged or truncated picture ({type(error).__name__}: {error}): "
            "save it again, or export it as PNG"
        ) from None
    if max(grey.shape) > MAX_SIDE:
        scale = MAX_SIDE / max(grey.shape)
        grey = resize(grey, tuple(max(1, round(n * scale)) for n in grey.shape))
    return grey


def _grey_levels(image, pillow) -> np.ndarray:
    """Grey in [0, 1] of an opened Pillow image: transparency over white paper, 16-bit
    grey ÷ 65535, anything else as Pillow's 8-bit luma ÷ 255."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return np.clip(np.asarray(image, dtype=np.float64) / 65535.0, 0.0, 1.0)
    if image.mode == "F":
        return np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)
    if "A" in image.mode or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = pillow.alpha_composite(pillow.new("RGBA", rgba.size, "white"), rgba)
    return np.asarray(image.convert("L"), dtype=np.float64) / 255.0


def _border(grey: np.ndarray) -> np.ndarray:
    """The outermost ring of pixels (the whole picture when it is that thin)."""
    if min(grey.shape) <= 2:
        return grey.reshape(-1)
    return np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])


def _stretched(ink: np.ndarray, path: Path) -> np.ndarray:
    """ink / max(ink), with levels below :data:`PAPER_NOISE` set to 0."""
    darkest = float(ink.max())
    if darkest < PAPER_NOISE:
        raise InputFileError(
            f"{path} shows no ink: it is (nearly) one flat colour. Give a picture of one "
            "digit or object, drawn dark on light paper or light on dark"
        )
    ink = ink / darkest
    ink[ink < PAPER_NOISE] = 0.0
    return ink


def _box_size(side: int, framing: Framing) -> int:
    return max(1, round(framing.box_fraction * side))


def frame(ink: np.ndarray, side: int, framing: Framing) -> np.ndarray:
    """The side × side field with ``ink``'s bounding box resized to fit the framing's box
    (aspect ratio kept) and placed by centre of mass or bounding box (see :class:`Framing`).
    ``ink`` must hold at least one nonzero level."""
    rows, columns = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    box = _box_size(side, framing)
    scale = box / max(crop.shape)
    glyph = resize(crop, tuple(min(box, max(1, round(n * scale))) for n in crop.shape))
    height, width = glyph.shape
    if framing.centre == "mass":
        top, left = _mass_offsets(glyph, side)
    else:
        top, left = (side - height) // 2, (side - width) // 2
    field = np.zeros((side, side))
    field[top : top + height, left : left + width] = glyph
    return field


def _mass_offsets(glyph: np.ndarray, side: int) -> tuple[int, int]:
    """Whole-pixel offsets putting the glyph's centre of mass (ȳ, x̄) = Σ ink·(y, x) / Σ ink
    nearest to (side/2, side/2), kept inside the field."""
    total = glyph.sum()
    offsets = []
    for axis in (1, 0):  # rows (sum over columns), then columns
        profile = glyph.sum(axis=axis)
        centre = float(profile @ np.arange(len(profile))) / total
        offset = int(np.floor(side / 2 - centre + 0.5))
        offsets.append(min(max(offset, 0), side - len(profile)))
    return offsets[0], offsets[1]


def resize(levels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``levels`` resampled to ``shape`` (height, width) by Pillow in 32-bit floats: area
    averaging (each new pixel the mean of what it covers) when shrinking, bilinear
    interpolation when enlarging."""
    from PIL import Image

    if levels.shape == shape:
        return levels.astype(np.float64)
    shrinking = shape[0] <= levels.shape[0] and shape[1] <= levels.shape[1]
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    image = Image.fromarray(levels.astype(np.float32))
    resized = image.resize((shape[1], shape[0]), method)
    return np.clip(np.asarray(resized, dtype=np.float64), 0.0, 1.0)
