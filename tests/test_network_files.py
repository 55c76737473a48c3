"""Network.save and nnreg.load_network: the parameters and the architecture, bit for bit."""

import json

import numpy as np
import pytest

import nnreg
from nnreg.session import TrainSettings, run_training


def same_network(a, b):
    assert a.sizes == b.sizes
    assert a.activation.name == b.activation.name and a.cost.name == b.cost.name
    assert a.dtype == b.dtype
    for x, y in zip(a.weights + a.biases, b.weights + b.biases):
        assert x.dtype == y.dtype and np.array_equal(x, y)


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(activation="tanh", cost="log-likelihood", dtype="float32"),
        dict(activation="relu", cost="quadratic"),
    ],
)
def test_a_saved_network_loads_back_the_same_and_predicts_the_same(tmp_path, options, digits):
    network = nnreg.Network([64, 12, 7, 10], rng=5, **options)
    path = network.save(tmp_path / "net")
    assert path.name == "net.npz"
    loaded = nnreg.load_network(path)
    same_network(network, loaded)
    inputs = digits["test"].float_inputs(network.dtype)
    assert np.array_equal(network.predict(inputs), loaded.predict(inputs))


def test_a_run_folder_and_its_parameter_file_load_as_its_network(tmp_path):
    result = run_training(TrainSettings(epochs=1, hidden=9, activation="tanh"), tmp_path / "r")
    from_folder = nnreg.load_network(result.folder)
    from_file = nnreg.load_network(result.folder / "parameters.npz")
    same_network(from_folder, from_file)
    assert from_folder.sizes == [64, 9, 10] and from_folder.activation.name == "tanh"
    saved = np.load(result.folder / "parameters.npz")
    assert np.array_equal(from_folder.weights[0], saved["weights_0"])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "missing.npz", "no such file or folder"),
        (lambda p: (p / "junk.npz").write_bytes(b"not a zip") and p / "junk.npz", "not a readable"),
        (lambda p: p, "not an nnreg run folder"),
    ],
    ids=["missing", "junk", "foreign-folder"],
)
def test_what_is_not_a_network_is_named(tmp_path, make, message):
    with pytest.raises(ValueError, match=message):
        nnreg.load_network(make(tmp_path))


def test_an_architecture_that_does_not_fit_the_arrays_is_refused(tmp_path):
    network = nnreg.Network([64, 12, 10], rng=0)
    path = network.save(tmp_path / "net.npz")
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["architecture"] = np.array(
        json.dumps({"format": 1, "sizes": [64, 13, 10], "activation": "sigmoid",
                    "cost": "cross-entropy", "dtype": "float64"})
    )  # fmt: skip
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="do not fit its architecture"):
        nnreg.load_network(path)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"dtype": "int8"}, "is not float64 or float32"),
        ({"activation": "swish"}, "not a network nnreg can build"),
        ({"cost": "hinge"}, "not a network nnreg can build"),
    ],
)
def test_an_architecture_nnreg_cannot_build_is_named(tmp_path, change, message):
    path = nnreg.Network([64, 12, 10], rng=0).save(tmp_path / "net.npz")
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    architecture = {**json.loads(str(arrays["architecture"])), **change}
    arrays["architecture"] = np.array(json.dumps(architecture))
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message):
        nnreg.load_network(path)
