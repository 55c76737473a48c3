"""A drop-in for the book's ``mnist_loader.py`` (Python 3), reading MNIST's IDX files.

Replace ``import mnist_loader`` with ``from nnreg import mnist_loader``. The data come
from nnreg's data folder (``NNREG_DATA``, downloaded when missing; see
:mod:`nnreg.datasets.mnist`) instead of the book's ``mnist.pkl.gz``, with the book's
split: 50,000 training, 10,000 validation and 10,000 test images, pixels in [0, 1].
The wrapped data are lists, so ``len(...)``, ``list(...)`` and repeated iteration work.
"""

from __future__ import annotations

import numpy as np

from nnreg import example_rows
from nnreg.datasets.mnist import load_mnist
from nnreg.network2 import ExampleList


def load_data(folder=None):
    """``(training_data, validation_data, test_data)``, each a pair (images, labels):
    images a float32 array of shape (n, 784), labels an int64 array of shape (n,)."""
    splits = load_mnist(folder)
    return tuple(
        (splits[name].float_inputs(np.float32), splits[name].labels.astype(np.int64))
        for name in ("training", "validation", "test")
    )


def load_data_wrapper(folder=None):
    """``(training_data, validation_data, test_data)`` in the format ``network2`` uses.

    ``training_data`` is a list of 50,000 pairs (x, y): x a (784, 1) float64 column of pixels, y
    the (10, 1) one-hot vector of the digit. ``validation_data`` and ``test_data`` are
    lists of 10,000 pairs (x, label) with an integer label.
    """
    splits = load_mnist(folder)
    tr_d, va_d, te_d = (
        (splits[k].float_inputs(), splits[k].labels) for k in ("training", "validation", "test")
    )
    # every x (and every training y) is a view of one row of a matrix, registered so that
    # network2 finds the matrix again from any list of them: no stacking, no second copy
    training_inputs = _columns(tr_d[0])
    one_hot = np.eye(10)[tr_d[1]]
    training_results = _columns(one_hot)
    training_data = ExampleList(zip(training_inputs, training_results), tr_d[0], one_hot)
    validation_data = list(zip(_columns(va_d[0]), va_d[1].tolist()))
    test_data = list(zip(_columns(te_d[0]), te_d[1].tolist()))
    return training_data, validation_data, test_data


def _columns(matrix: np.ndarray) -> list[np.ndarray]:
    """The rows of ``matrix`` as (width, 1) column views, registered with
    :mod:`nnreg.example_rows`."""
    columns = list(matrix[:, :, np.newaxis])  # one (width, 1) view per row
    example_rows.register(matrix, columns)
    return columns


def vectorized_result(j):
    """A (10, 1) unit vector with 1.0 in position j."""
    e = np.zeros((10, 1))
    e[j] = 1.0
    return e
