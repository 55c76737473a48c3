"""A drop-in for the book's ``mnist_loader.py`` (Python 3), reading MNIST's IDX files.

Replace ``import mnist_loader`` with ``from nnreg import mnist_loader``. The data come
from nnreg's data folder (``NNREG_DATA``, downloaded when missing; see
:mod:`nnreg.datasets.mnist`) instead of the book's ``mnist.pkl.gz``, with the book's
split: 50,000 training, 10,000 validation and 10,000 test images, pixels in [0, 1].
The wrapped data are lists, so ``len(...)``, ``list(...)`` and repeated iteration work.
"""

from __future__ import annotations

import numpy as np

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
    training_inputs = [np.reshape(x, (784, 1)) for x in tr_d[0]]
    one_hot = np.eye(10)[tr_d[1]]
    training_results = [np.reshape(y, (10, 1)) for y in one_hot]
    # also kept as matrices (and the images as bytes), which network2's SGD then uses
    # without copying
    training_data = ExampleList(
        zip(training_inputs, training_results),
        tr_d[0],
        one_hot,
        splits["training"].inputs if splits["training"].coded else None,
        splits["training"].input_divisor,
    )
    validation_data = [(np.reshape(x, (784, 1)), int(y)) for x, y in zip(va_d[0], va_d[1])]
    test_data = [(np.reshape(x, (784, 1)), int(y)) for x, y in zip(te_d[0], te_d[1])]
    return training_data, validation_data, test_data


def vectorized_result(j):
    """A (10, 1) unit vector with 1.0 in position j."""
    e = np.zeros((10, 1))
    e[j] = 1.0
    return e
