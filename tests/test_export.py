"""``nnreg data export``: MNIST in the files learners' code reads — checked with that code:
the book's ``mnist_loader`` (its Python 3 form, below as the book has it) and Keras's
``load_data`` (its ``np.load`` of the four arrays)."""

import gzip
import pickle
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from nnreg.cli import main
from nnreg.datasets.folders import load_idx_folder


def book_load_data(path):
    """The book's mnist_loader.load_data, in Python 3 (``cPickle`` became ``pickle`` with
    ``encoding='latin1'``, as every Python 3 port of it reads the original file)."""
    f = gzip.open(path, "rb")
    training_data, validation_data, test_data = pickle.load(f, encoding="latin1")
    f.close()
    return (training_data, validation_data, test_data)


def book_load_data_wrapper(path):
    tr_d, va_d, te_d = book_load_data(path)
    training_inputs = [np.reshape(x, (784, 1)) for x in tr_d[0]]
    training_results = [np.eye(10)[[y]].T for y in tr_d[1]]
    return list(zip(training_inputs, training_results)), va_d, te_d


def keras_load_data(path):
    """What keras.datasets.mnist.load_data does with the file it downloads."""
    with np.load(path, allow_pickle=True) as f:
        x_train, y_train = f["x_train"], f["y_train"]
        x_test, y_test = f["x_test"], f["y_test"]
    return (x_train, y_train), (x_test, y_test)


@pytest.fixture(scope="module")
def data_dir(mnist_folder, tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    shutil.copytree(mnist_folder, folder / "mnist")
    return folder


def export(format, out, data_dir):
    result = CliRunner().invoke(
        main, ["data", "export", "--format", format, "--out", str(out), "--data-dir", str(data_dir)]
    )
    assert result.exit_code == 0, result.output
    return out / {"book": "mnist.pkl.gz", "keras": "mnist.npz"}[format]


@pytest.mark.slow  # the full MNIST as a pickle: about 20 s
def test_the_book_file_loads_in_the_books_loader_as_the_original(data_dir, mnist_folder, tmp_path):
    path = export("book", tmp_path, data_dir)
    training, validation, test = book_load_data(path)
    for (images, labels), count in zip((training, validation, test), (50_000, 10_000, 10_000)):
        assert images.shape == (count, 784) and images.dtype == np.float32
        assert labels.shape == (count,) and labels.dtype == np.int64
        assert images.min() == 0.0 and images.max() == 1.0
    reference = load_idx_folder(mnist_folder, 10_000)  # nnreg's own split of the same files
    np.testing.assert_array_equal(training[1], reference["training"].labels)
    np.testing.assert_array_equal(
        training[0], (reference["training"].inputs / np.float32(255)).astype(np.float32)
    )
    wrapped, _, _ = book_load_data_wrapper(path)
    assert len(wrapped) == 50_000 and wrapped[0][0].shape == (784, 1)
    assert wrapped[0][1].shape == (10, 1) and wrapped[0][1].sum() == 1


def test_the_keras_file_loads_as_keras_loads_it(data_dir, mnist_folder, tmp_path):
    from nnreg.datasets.idx import read_idx

    (x_train, y_train), (x_test, y_test) = keras_load_data(export("keras", tmp_path, data_dir))
    assert x_train.shape == (60_000, 28, 28) and x_test.shape == (10_000, 28, 28)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    np.testing.assert_array_equal(x_train, read_idx(mnist_folder / "train-images-idx3-ubyte.gz"))
    np.testing.assert_array_equal(y_test, read_idx(mnist_folder / "t10k-labels-idx1-ubyte.gz"))


def test_an_export_without_data_or_mirror_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("NNREG_MNIST_MIRRORS", (tmp_path / "no-mirror").as_uri())
    result = CliRunner().invoke(
        main,
        ["data", "export", "--format", "book", "--out", str(tmp_path / "out"), "--data-dir",
         str(tmp_path / "data")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "could not download" in result.output and "--data-dir" in result.output
    assert not (tmp_path / "out" / "mnist.pkl.gz").exists()


def test_the_format_is_required_and_checked(tmp_path):
    result = CliRunner().invoke(main, ["data", "export", "--format", "csv"])
    assert result.exit_code == 2 and "'--format'" in result.output
