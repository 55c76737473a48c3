"""Fashion-MNIST: 70,000 28×28 images of clothing in ten classes, in MNIST's IDX format.

Looked for in ``<data folder>/fashion-mnist/``, then where Debian's
``dataset-fashion-mnist`` package installs it. Split like MNIST: the last 10,000
training images for validation.
"""

from __future__ import annotations

from pathlib import Path

from nnreg.datasets.dataset import Dataset
from nnreg.datasets.download import data_folder
from nnreg.datasets.folders import load_idx_folder, missing_parts

DEBIAN_FOLDER = Path("/usr/share/datasets/fashion-mnist")


def find_fashion_mnist(folder: str | Path | None = None) -> Path:
    """The first folder holding all four Fashion-MNIST files."""
    candidates = [data_folder(folder) / "fashion-mnist", DEBIAN_FOLDER]
    for candidate in candidates:
        if not missing_parts(candidate):
            return candidate
    raise FileNotFoundError(
        "Fashion-MNIST not found in "
        + " or ".join(str(c) for c in candidates)
        + ": install Debian's dataset-fashion-mnist package (apt-get install "
        "dataset-fashion-mnist), or put its four IDX files in "
        f"{candidates[0]}"
    )


def load_fashion_mnist(folder: str | Path | None = None) -> dict[str, Dataset]:
    """``{"training": 50,000, "validation": 10,000, "test": 10,000}`` Fashion-MNIST examples."""
    return load_idx_folder(find_fashion_mnist(folder), 10_000)
