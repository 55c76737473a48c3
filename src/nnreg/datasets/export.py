"""MNIST in the files learners' own code reads, written from nnreg's verified IDX files:

* ``book``: ``mnist.pkl.gz`` as the book's ``mnist_loader.load_data`` reads it — a gzipped
  pickle of ``(training_data, validation_data, test_data)``, each a pair (images, labels):
  images a float32 array of shape (n, 784) with pixels in [0, 1], labels an int64 array of
  shape (n,); 50,000 / 10,000 / 10,000 examples, the book's split;
* ``keras``: ``mnist.npz`` as ``keras.datasets.mnist.load_data`` reads it — ``x_train``
  (60,000 × 28 × 28), ``y_train``, ``x_test`` (10,000 × 28 × 28), ``y_test``, all uint8.

Writing a pickle for the learner's code to read is fine; nnreg itself never loads one. Files
are written to a temporary name beside the final one and renamed into place, under the user's
umask.
"""

from __future__ import annotations

import gzip
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nnreg.checkpoints import atomic_write_bytes
from nnreg.datasets.download import Progress
from nnreg.datasets.folders import PARTS, find_part
from nnreg.datasets.idx import read_idx
from nnreg.datasets.mnist import ensure_mnist

FORMATS = {"book": "mnist.pkl.gz", "keras": "mnist.npz"}
"""Each format and the file name learners' code looks for."""
VALIDATION = 10_000


def export_mnist(
    format: str,
    out: str | Path,
    data_dir: str | Path | None = None,
    mirrors: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> Path:
    """Write MNIST in ``format`` ("book" or "keras") into the folder ``out``; the file's path.
    The IDX files are read from nnreg's data folder (``data_dir``, ``NNREG_DATA``…),
    downloaded and checked there first when missing."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    folder = ensure_mnist(data_dir, mirrors=mirrors, progress=progress)
    arrays = {key: read_idx(find_part(folder, stem)) for key, stem in PARTS.items()}
    target = Path(out) / FORMATS[format]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        message = f"cannot create the folder {target.parent}: {error.strerror}"
        raise OSError(error.errno, message) from None
    write = _book if format == "book" else _keras
    atomic_write_bytes(target, lambda handle: write(handle, arrays))
    return target


def _book(handle, arrays: dict[str, np.ndarray]) -> None:
    """The book's tuple of (images, labels) pairs, pickled (protocol 2, as Python 2 read it)
    and gzipped."""
    images = arrays["train_images"].reshape(-1, 784).astype(np.float32) / np.float32(255)
    labels = arrays["train_labels"].astype(np.int64)
    test = arrays["test_images"].reshape(-1, 784).astype(np.float32) / np.float32(255)
    cut = len(images) - VALIDATION
    data = (
        (images[:cut], labels[:cut]),
        (images[cut:], labels[cut:]),
        (test, arrays["test_labels"].astype(np.int64)),
    )
    with gzip.GzipFile(fileobj=handle, mode="wb", mtime=0) as packed:
        pickle.dump(data, packed, protocol=2)


def _keras(handle, arrays: dict[str, np.ndarray]) -> None:
    np.savez_compressed(
        handle,
        x_train=arrays["train_images"].astype(np.uint8),
        y_train=arrays["train_labels"].astype(np.uint8),
        x_test=arrays["test_images"].astype(np.uint8),
        y_test=arrays["test_labels"].astype(np.uint8),
    )
