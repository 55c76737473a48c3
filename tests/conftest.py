import signal
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import nnreg  # noqa: E402

# The Ctrl-C tests send SIGINT to nnreg's commands as a terminal would. A test run started in
# the background by a shell without job control (``pytest &`` in a script) has SIGINT ignored,
# and every command it starts would inherit that (Python leaves an ignored SIGINT ignored, so
# no KeyboardInterrupt): give the commands the SIGINT a terminal gives them.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

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


def shared_mnist_folder():
    """The real MNIST files: ``$NNREG_TEST_MNIST``, else ``shared/data/mnist`` beside the repo."""
    import os

    configured = os.environ.get("NNREG_TEST_MNIST")
    folder = (
        Path(configured) if configured else Path(__file__).parents[1] / ".." / "shared/data/mnist"
    )
    return folder.resolve()


@pytest.fixture(scope="session")
def mnist_folder():
    folder = shared_mnist_folder()
    if not (folder / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(
            "needs the real MNIST files: set NNREG_TEST_MNIST to a folder holding the four "
            "IDX .gz files (e.g. the mnist/ folder nnreg train --data mnist downloads into)"
        )
    return folder


@pytest.fixture(scope="session")
def mnist(mnist_folder):
    from nnreg.datasets.folders import load_idx_folder

    return load_idx_folder(mnist_folder)
