"""Artificially expanded training data (the book's chapter 3): shifted and rotated copies
of the training images, made once per run and kept as bytes like the originals."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from nnreg.datasets.dataset import Dataset

SHIFTS = ((1, 0), (-1, 0), (0, 1), (0, -1))
"""One pixel down, up, right, left: the book's expand_mnist.py."""


def shift_images(images: np.ndarray, dy: int, dx: int, shape: tuple[int, int]) -> np.ndarray:
    """Each row of ``images`` (flattened ``shape`` images) moved by (dy, dx) pixels, the
    pixels that enter filled with 0 (the book's expand_mnist.py does the same)."""
    grid = images.reshape(-1, *shape)
    moved = np.zeros_like(grid)
    height, width = shape
    rows_to = slice(max(dy, 0), height + min(dy, 0))
    rows_from = slice(max(-dy, 0), height + min(-dy, 0))
    cols_to = slice(max(dx, 0), width + min(dx, 0))
    cols_from = slice(max(-dx, 0), width + min(-dx, 0))
    moved[:, rows_to, cols_to] = grid[:, rows_from, cols_from]
    return moved.reshape(images.shape)


def rotate_images(images: np.ndarray, degrees: float, shape: tuple[int, int]) -> np.ndarray:
    """Each image turned by ``degrees`` about its centre (bilinear, 0 outside), same dtype."""
    grid = images.reshape(-1, *shape).astype(np.float32)
    turned = ndimage.rotate(grid, degrees, axes=(2, 1), reshape=False, order=1, cval=0.0)
    if np.issubdtype(images.dtype, np.integer):
        info = np.iinfo(images.dtype)
        turned = np.clip(np.rint(turned), info.min, info.max)
    return turned.astype(images.dtype).reshape(images.shape)


def expand(
    data: Dataset,
    copies: int,
    rng: np.random.Generator,
    shape: tuple[int, int] = (28, 28),
    rotations: Sequence[float] = (),
) -> Dataset:
    """``data`` followed by ``copies`` transformed copies of every image.

    The transformations are the four one-pixel shifts and, if given, rotations by each of
    ``rotations`` degrees; every image gets ``copies`` distinct ones chosen at random by
    ``rng`` (all four shifts with ``copies=4`` and no rotations: the book's 250,000 images).
    Labels are carried over unchanged.
    """
    transforms = [("shift", s) for s in SHIFTS] + [("rotate", r) for r in rotations]
    if not 1 <= copies <= len(transforms):
        raise ValueError(
            f"copies must be between 1 and {len(transforms)} (the number of transformations: "
            f"4 shifts{' and ' + str(len(rotations)) + ' rotations' if rotations else ''}), "
            f"got {copies}"
        )
    if data.inputs.shape[1] != shape[0] * shape[1]:
        raise ValueError(
            f"images have {data.inputs.shape[1]} pixels, not {shape[0]}×{shape[1]}: give "
            "the image shape"
        )
    choices = np.argsort(rng.random((len(data), len(transforms))), axis=1)[:, :copies]
    parts, targets, labels = [data.inputs], [data.targets], [data.labels]
    for slot in range(copies):
        for index, (kind, value) in enumerate(transforms):
            rows = np.flatnonzero(choices[:, slot] == index)
            if rows.size == 0:
                continue
            images = data.inputs[rows]
            if kind == "shift":
                images = shift_images(images, *value, shape)
            else:
                images = rotate_images(images, value, shape)
            parts.append(images)
            targets.append(data.targets[rows])
            labels.append(data.labels[rows])
    return Dataset(
        np.concatenate(parts), np.concatenate(targets), np.concatenate(labels), data.input_divisor
    )
