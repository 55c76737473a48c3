import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import nnreg  # noqa: E402

REGULARIZER_NAMES = ["none", "l2", "l1", "l1-proximal", "l1-cumulative", "elastic-net", "decoupled"]


def build_regularizer(name, lmbda=0.7, l2_lmbda=0.3, regularize_biases=False):
    options = {"regularize_biases": regularize_biases}
    if name == "elastic-net":
        options["l2_lmbda"] = l2_lmbda
    if name == "none":
        options = {}
    return nnreg.make_regularizer(name, lmbda, **options)


@pytest.fixture(scope="session")
def digits():
    return nnreg.load_digits()


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
