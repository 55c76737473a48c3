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
    for key, stem in PARTS.items():
        if len(arrays[key]) == 0:
            raise ValueError(f"{find_part(folder, stem)} holds no examples: nothing to train on")
    classes = _classes(arrays, folder)
    train_images = arrays["train_images"].reshape(len(arrays["train_images"]), -1)
    test_images = arrays["test_images"].reshape(len(arrays["test_images"]), -1)
    if validation_size is None:
        validation_size = min(10_000, len(train_images) // 6)
    if not 0 < validation_size < len(train_images):
        raise ValueError(
            f"{folder}: cannot hold out {validation_size} of {len(train_images)} training images "
            "for validation"
        )
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


def _classes(arrays: dict[str, np.ndarray], folder: Path) -> int:
    """The number of classes: every label from 0 up must occur in the training labels, so
    one stray label (a damaged byte) cannot silently add output units."""
    present = np.unique(arrays["train_labels"])
    classes = int(present[-1]) + 1
    if len(present) != classes:
        gaps = np.setdiff1d(np.arange(classes), present)
        raise ValueError(
            f"{find_part(folder, PARTS['train_labels'])}: the largest label is "
            f"{classes - 1} but labels {_ranges(gaps)} never occur: is the file damaged? "
            "Labels must be the classes 0, 1, 2, … with every one present"
        )
    stray = arrays["test_labels"][arrays["test_labels"] >= classes]
    if len(stray):
        raise ValueError(
            f"{find_part(folder, PARTS['test_labels'])}: label {int(stray[0])} never "
            f"occurs in the training labels (0 to {classes - 1}): is the file damaged?"
        )
    return classes


def _ranges(values: np.ndarray) -> str:
    """``10–199`` for a run of consecutive values, else the first few."""
    values = [int(v) for v in values]
    if values[-1] - values[0] + 1 == len(values) and len(values) > 2:
        return f"{values[0]}–{values[-1]}"
    return ", ".join(map(str, values[:5])) + (", …" if len(values) > 5 else "")
