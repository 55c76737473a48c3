"""scikit-learn's embedded 8×8 digits: the offline default data set.

1,797 images of 8×8 pixels with values 0–16, scaled here to [0, 1]. Split with a fixed
seed into 1,197 training, 300 validation and 300 test examples, so every run on the
default data sees the same split whatever its own seed.
"""

from __future__ import annotations

import numpy as np

from nnreg.datasets.dataset import Dataset, make_dataset

SPLIT_SEED = 0
VALIDATION_SIZE = 300
TEST_SIZE = 300


def load_digits() -> dict[str, Dataset]:
    """``{"training", "validation", "test"}`` splits of the digits data, pixels in [0, 1]."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    inputs = bunch.data / 16.0
    order = np.random.default_rng(SPLIT_SEED).permutation(len(inputs))
    test, validation = order[:TEST_SIZE], order[TEST_SIZE : TEST_SIZE + VALIDATION_SIZE]
    training = order[TEST_SIZE + VALIDATION_SIZE :]
    return {
        name: make_dataset(inputs[rows], bunch.target[rows], 10, name)
        for name, rows in (("training", training), ("validation", validation), ("test", test))
    }
