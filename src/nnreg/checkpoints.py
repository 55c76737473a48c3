"""Atomic saving and loading of a network's parameters.

Files are NumPy ``.npz`` archives written to a temporary file in the same folder,
flushed to disk and renamed over the final name, so a reader never sees half a file and
a crash leaves the previous file intact. Loading never unpickles (``allow_pickle=False``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def atomic_write_bytes(path: Path, write) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it to ``path``."""
    path = Path(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_parameters(path: Path, weights: list[np.ndarray], biases: list[np.ndarray]) -> None:
    """Write ``weights_0…``, ``biases_0…`` to ``path`` atomically."""
    arrays = {f"weights_{i}": w for i, w in enumerate(weights)}
    arrays.update({f"biases_{i}": b for i, b in enumerate(biases)})
    atomic_write_bytes(path, lambda handle: np.savez(handle, **arrays))


def load_parameters(path: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Read what :func:`save_parameters` wrote; ``ValueError`` if it is not such a file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            layers = sum(1 for key in archive.files if key.startswith("weights_"))
            weights = [archive[f"weights_{i}"] for i in range(layers)]
            biases = [archive[f"biases_{i}"] for i in range(layers)]
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(f"{path} is not a readable nnreg parameter file: {error}") from None
    return weights, biases
