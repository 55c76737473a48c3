"""A data set given as a folder of the four IDX files in MNIST's naming.

``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
``t10k-labels-idx1-ubyte``, each raw or with ``.gz``. Split as the book splits MNIST:
the last ``validation_size`` training images are the validation set — by default 10,000,
or one sixth of the training images when there are fewer than 60,000 (MNIST's
proportion); pixels are scaled from 0–255 to [0, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnreg.datasets.dataset import Dataset, make_dataset
from nnreg.datasets.idx import read_idx

PARTS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def find_part(folder: Path, stem: str) -> Path | None:
    """``folder/stem.gz`` or ``folder/stem``, whichever exists."""
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def missing_parts(folder: Path) -> list[str]:
    return [stem for stem in PARTS.values() if find_part(folder, stem) is None]


def load_idx_folder(folder: str | Path, validation_size: int | None = None) -> dict[str, Dataset]:
    """``{"training", "validation", "test"}`` from the IDX files in ``folder``."""
    folder = Path(folder)
    missing = missing_parts(folder)
    if missing:
        raise FileNotFoundError(
            f"{folder} lacks {', '.join(missing)} (raw or .gz): a data folder must hold the four "
            "IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte "
            "and t10k-labels-idx1-ubyte"
        )
    arrays = {
        key: read_idx(find_part(folder, stem), ndim=3 if "images" in key else 1, dtype=np.uint8)
        for key, stem in PARTS.items()
    }
    for kind in ("train", "test"):
        images, labels = arrays[f"{kind}_images"], arrays[f"{kind}_labels"]
        if len(images) != len(labels):
            raise ValueError(
                f"{folder}: {len(images)} {kind} images but {len(labels)} labels: the files do "
                "not belong together"
            )
    train_images = arrays["train_images"].reshape(len(arrays["train_images"]), -1)
    test_images = arrays["test_images"].reshape(len(arrays["test_images"]), -1)
    if validation_size is None:
        validation_size = min(10_000, len(train_images) // 6)
    if not 0 < validation_size < len(train_images):
        raise ValueError(
            f"{folder}: cannot hold out {validation_size} of {len(train_images)} training images "
            "for validation"
        )
    classes = int(max(arrays["train_labels"].max(), arrays["test_labels"].max())) + 1
    cut = len(train_images) - validation_size
    splits = {
        "training": (train_images[:cut], arrays["train_labels"][:cut]),
        "validation": (train_images[cut:], arrays["train_labels"][cut:]),
        "test": (test_images, arrays["test_labels"]),
    }
    # the bytes are kept; the network sees them divided by 255, a batch at a time
    return {
        name: make_dataset(images, labels, classes, name, input_divisor=255.0)
        for name, (images, labels) in splits.items()
    }
