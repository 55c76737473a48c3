"""A run's weights at an epoch, as the page draws them: the first layer as images and a
histogram per layer. The parameter files are read through :mod:`nnreg.board.safe_files`
(never through a link, never a FIFO or device), with the checks of
:func:`~nnreg.checkpoints.load_parameters`.
"""

from __future__ import annotations

import base64
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from nnreg.board.safe_files import Folder, open_file
from nnreg.checkpoints import load_parameters
from nnreg.datasets.dataset import image_shape
from nnreg.runs import SNAPSHOTS

HISTOGRAM_BINS = 41
SNAPSHOT_NAME = re.compile(r"epoch-\d{1,9}\.npz")
MAX_PARAMETER_BYTES = 2 << 30
"""The most a parameter file may unpack to (its arrays' bytes): far more than any network
trained here, far less than a file made to exhaust the server's memory."""


def snapshot_files(folder: Folder) -> list[str]:
    """The names of the run's snapshot files (``epoch-0001.npz``…) that are plain files in
    a real ``snapshots`` folder of the open run ``folder``: a linked ``snapshots`` is not
    looked into, and a link, FIFO or folder among them is left out."""
    try:
        with folder.folder(SNAPSHOTS) as snapshots:
            return sorted(
                name
                for name in snapshots.names()
                if SNAPSHOT_NAME.fullmatch(name) and snapshots.is_file(name)
            )
    except OSError:
        return []


def network_weights(root: Path, path: str) -> list[np.ndarray]:
    """The weight matrices in the parameter file ``path`` under ``root``; ``ValueError``
    when it cannot be opened safely or holds no network's weights (named by the file's name
    only: no server path is shown)."""
    shown = path.rsplit("/", 1)[-1]
    try:
        with open_file(root, path) as handle:
            _check_unpacked_size(handle)
            weights, _ = load_parameters(handle)
    except (OSError, ValueError, zipfile.BadZipFile):
        raise ValueError(f"{shown} is not a readable nnreg parameter file") from None
    if any(np.ndim(w) != 2 for w in weights):
        raise ValueError(f"{shown} does not hold a network's weight matrices")
    return [np.asarray(w) for w in weights]


def _check_unpacked_size(handle) -> None:
    """``ValueError`` for an archive whose members unpack to more than
    ``MAX_PARAMETER_BYTES`` (their sizes are declared, and reading never goes beyond them)."""
    with zipfile.ZipFile(handle) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > MAX_PARAMETER_BYTES:
        raise ValueError(f"its arrays take {unpacked} bytes")
    handle.seek(0)


def shown_weights(weights: list[np.ndarray], epoch: int, epochs: list[int]) -> dict[str, Any]:
    """What the page draws of ``weights`` (after ``epoch``; ``epochs`` are all kept): the
    first layer as images (float32, base64) and a histogram per layer."""
    first = weights[0]
    return {
        "epoch": epoch,
        "epochs": epochs,
        "first_layer": {
            "units": first.shape[0],
            "inputs": first.shape[1],
            "image": list(image_shape(first.shape[1])),
            "values": float32_base64(first),
        },
        "layers": [histogram(np.asarray(w)) for w in weights],
    }


def histogram(weights: np.ndarray) -> dict[str, Any]:
    """Counts of the non-zero weights in equal bins over ±(largest magnitude), and the count
    of weights exactly 0."""
    values = weights.ravel()
    zero = values == 0
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    finite = np.isfinite(values)
    if not np.isfinite(largest) or largest == 0:
        largest = float(np.max(np.abs(values[finite]), initial=0.0)) or 1.0
    counts, edges = np.histogram(values[~zero & finite], HISTOGRAM_BINS, (-largest, largest))
    return {
        "shape": list(weights.shape),
        "edges": edges.tolist(),
        "counts": counts.tolist(),
        "zeros": int(zero.sum()),
        "not_finite": int((~finite).sum()),
    }


def float32_base64(values: np.ndarray) -> str:
    """Little-endian float32, keeping every non-zero value non-zero (and every zero zero)."""
    small = values.astype("<f4")
    lost = (small == 0) & (values != 0)
    small[lost] = np.copysign(np.float32(1e-45), values[lost])
    return base64.b64encode(small.tobytes()).decode()
