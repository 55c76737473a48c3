"""MNIST, split as in the book: the first 50,000 training images for training, the last
10,000 for validation, the 10,000 t10k images for test; pixels scaled to [0, 1].

The files are looked for in ``<data folder>/mnist/`` (see :mod:`nnreg.datasets.download`)
and downloaded there when missing, from the first mirror that works, each checked
against the SHA-256 below (of the uncompressed IDX content).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from nnreg.datasets.dataset import Dataset
from nnreg.datasets.download import Progress, data_folder, download
from nnreg.datasets.folders import PARTS, find_part, load_idx_folder

MIRRORS_ENVIRONMENT_VARIABLE = "NNREG_MNIST_MIRRORS"
DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
CONTENT_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


def mirrors_from_environment() -> list[str]:
    """``$NNREG_MNIST_MIRRORS`` (URLs separated by spaces or commas), else the defaults."""
    configured = os.environ.get(MIRRORS_ENVIRONMENT_VARIABLE, "")
    urls = [url for url in configured.replace(",", " ").split() if url]
    return urls or list(DEFAULT_MIRRORS)


def ensure_mnist(
    folder: str | Path | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> Path:
    """The MNIST folder, with each missing file downloaded into it first."""
    target = data_folder(folder) / "mnist"
    for stem in PARTS.values():
        if find_part(target, stem) is None:
            download(
                f"{stem}.gz",
                target,
                mirrors or mirrors_from_environment(),
                CONTENT_SHA256[stem],
                progress,
            )
    return target


def load_mnist(
    folder: str | Path | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> dict[str, Dataset]:
    """``{"training": 50,000, "validation": 10,000, "test": 10,000}`` MNIST examples."""
    return load_idx_folder(ensure_mnist(folder, mirrors=mirrors, progress=progress), 10_000)
