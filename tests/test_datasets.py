import gzip
import struct
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import nnreg
from nnreg.cli import main
from nnreg.datasets.fashion_mnist import DEBIAN_FOLDER, load_fashion_mnist
from nnreg.datasets.folders import load_idx_folder


def test_mnist_has_the_books_split_and_scaling(mnist, mnist_folder):
    assert [len(mnist[k]) for k in ("training", "validation", "test")] == [50_000, 10_000, 10_000]
    for data in mnist.values():
        assert data.inputs.shape[1] == 784 and data.inputs.dtype == np.uint8  # kept as bytes
        inputs = data.float_inputs()
        assert inputs.min() == 0.0 and inputs.max() == 1.0
    train_counts = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    together = np.bincount(np.concatenate([mnist["training"].labels, mnist["validation"].labels]))
    assert together.tolist() == train_counts
    raw = np.frombuffer(
        gzip.decompress((mnist_folder / "train-images-idx3-ubyte.gz").read_bytes()),
        np.uint8,
        offset=16,
    ).reshape(60_000, 784)
    # validation = the *last* 10,000 training images
    np.testing.assert_array_equal(mnist["validation"].input_rows(0, 1)[0], raw[50_000] / 255.0)
    np.testing.assert_array_equal(mnist["training"].float_inputs()[-1], raw[49_999] / 255.0)


def test_coded_inputs_train_exactly_like_their_float_copy(mnist):
    coded = mnist["training"].head(2_000)
    floats = nnreg.Dataset(coded.float_inputs(), coded.targets, coded.labels)
    networks = []
    for data in (coded, floats):
        network = nnreg.Network([784, 20, 10], rng=0)
        history = nnreg.train(
            network,
            data,
            epochs=1,
            batch_size=10,
            optimizer=nnreg.SGD(0.5),
            regularizer=nnreg.L2(5.0),
            rng=0,
            evaluation_data={"validation": mnist["validation"].head(3_000)},
        )
        networks.append((network, history))
    (a, history_a), (b, history_b) = networks
    for x, y in zip(a.weights + a.biases, b.weights + b.biases):
        assert np.array_equal(x, y)
    assert history_a.last["validation"] == history_b.last["validation"]


@pytest.mark.skipif(
    not DEBIAN_FOLDER.is_dir(), reason="Debian's dataset-fashion-mnist not installed"
)
def test_fashion_mnist_is_found_where_debian_installs_it(tmp_path):
    splits = load_fashion_mnist(tmp_path)  # nothing in the data folder: falls back to Debian's
    assert [len(splits[k]) for k in ("training", "validation", "test")] == [50_000, 10_000, 10_000]
    assert np.bincount(splits["test"].labels).tolist() == [1000] * 10


def test_fashion_mnist_missing_everywhere_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr("nnreg.datasets.fashion_mnist.DEBIAN_FOLDER", tmp_path / "none")
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path)


def write_idx(path, array):
    header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


@pytest.fixture
def tiny_idx_folder(tmp_path):
    """A data folder of MNIST-style files: 60 training and 20 test 4×4 images, 3 classes."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "tiny"
    folder.mkdir()
    for kind, count in (("train", 60), ("t10k", 20)):
        labels = np.arange(count) % 3
        images = (labels[:, None, None] * 100 + rng.integers(0, 30, (count, 4, 4))).astype(np.uint8)
        write_idx(folder / f"{kind}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{kind}-labels-idx1-ubyte.gz", labels)
    return folder


def test_idx_folder_split_holds_out_the_last_training_images(tiny_idx_folder):
    splits = load_idx_folder(tiny_idx_folder, validation_size=10)
    assert [len(splits[k]) for k in ("training", "validation", "test")] == [50, 10, 20]
    assert splits["training"].targets.shape == (50, 3)


def test_idx_folder_with_mismatched_files_is_a_clear_error(tiny_idx_folder):
    write_idx(tiny_idx_folder / "t10k-labels-idx1-ubyte.gz", np.zeros(7))
    with pytest.raises(ValueError, match="20 test images but 7 labels"):
        load_idx_folder(tiny_idx_folder, validation_size=10)


def test_train_on_a_folder_of_idx_files(tiny_idx_folder, tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "train",
            "--data",
            str(tiny_idx_folder),
            "--sizes",
            "16,5,3",
            "--epochs",
            "2",
            "--quiet",
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "summary.json").is_file()


def test_train_on_mnist_from_the_data_folder(mnist_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("NNREG_DATA", str(mnist_folder.parent))
    result = CliRunner().invoke(
        main,
        ["train", "--data", "mnist", "--epochs", "1", "--quiet", "--out", str(tmp_path / "run")],
    )
    assert result.exit_code == 0, result.output
    summary = nnreg.runs.read_run(tmp_path / "run")["summary"]
    assert summary["validation"]["accuracy"] > 0.9


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data", "cifar"], "unknown data set 'cifar'"),
        (["--data", "mnist", "--mirror", "file:///nonexistent/mnist"], "every mirror failed"),
    ],
)
def test_missing_data_exits_2_with_a_message_and_leaves_nothing(tmp_path, args, message):
    data_dir = tmp_path / "data"
    command = [
        sys.executable,
        "-m",
        "nnreg",
        "train",
        *args,
        "--data-dir",
        str(data_dir),
        "--out",
        str(tmp_path / "run"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "run").exists()
    assert not data_dir.exists()  # not even an empty folder


def test_corrupt_idx_file_exits_2_naming_the_file(tiny_idx_folder, tmp_path):
    path = tiny_idx_folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:30])
    result = CliRunner().invoke(
        main, ["train", "--data", str(tiny_idx_folder), "--quiet", "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 2
    assert "train-images-idx3-ubyte.gz" in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["digits", "mnist", "fashion-mnist"])
def test_the_declared_shapes_of_the_named_data_sets_are_those_loaded(name, request):
    from nnreg.session import DATA_SHAPES, load_data

    folder = None
    if name == "mnist":
        folder = request.getfixturevalue("mnist_folder").parent
        if folder.name != "data" and not (folder / "mnist").is_dir():
            pytest.skip("the MNIST files are not in a data folder's mnist/ subfolder")
    try:
        splits = load_data(name, folder)
    except FileNotFoundError:
        pytest.skip(f"{name} is not installed")
    for split in splits.values():
        assert (split.inputs.shape[1], split.targets.shape[1]) == DATA_SHAPES[name][:2]
    assert len(splits["training"]) == DATA_SHAPES[name][2]


@pytest.mark.parametrize(
    "sizes, message",
    [
        ("10,30,10", "has 64 input features but the input layer has 10"),
        ("64,30,3", "10 classes but the output layer has 3"),
    ],
)
def test_sizes_that_do_not_fit_a_named_data_set_are_refused_before_loading(sizes, message):
    result = CliRunner().invoke(main, ["train", "--sizes", sizes, "--quiet"])
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert "--sizes: sizes do not fit digits: it has" in output and message in output
