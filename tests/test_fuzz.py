"""Property-based fuzzing of every reader of files from strangers: each input either loads
or raises the reader's documented error — never another exception, never an allocation
larger than the file justifies (a lying header), never a hang."""

import json
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnreg
from nnreg import network2
from nnreg.checkpoints import CheckpointError, load_checkpoint
from nnreg.datasets.idx import IdxError, read_idx
from nnreg.runs import read_run
from nnreg.session import TrainSettings, run_training
from nnreg.sweep import read_grid_file
from nnreg.training import TrainingState

FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FAST
@given(
    type_code=st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0x07, 0xFF]),
    dims=st.lists(st.integers(0, 2**31 - 1), min_size=0, max_size=4),
    payload=st.binary(max_size=64),
)
def test_idx_headers_that_lie_about_their_size_raise_idx_error(tmp_path, type_code, dims, payload):
    path = tmp_path / "lying.idx"
    path.write_bytes(
        bytes([0, 0, type_code, len(dims)]) + struct.pack(f">{len(dims)}i", *dims) + payload
    )
    try:
        array = read_idx(path)
    except IdxError:
        return
    assert array.nbytes <= len(payload)


def saved_network2(tmp_path):
    np.random.seed(0)
    net = network2.Network([3, 2, 2])
    path = tmp_path / "net.json"
    net.save(str(path))
    return path


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@FAST
@given(
    field=st.sampled_from(["cost", "sizes", "weights", "biases", None]),
    value=json_values,
)
def test_network2_load_of_a_mangled_save_raises_value_error_or_loads(tmp_path, field, value):
    path = saved_network2(tmp_path)
    data = json.loads(path.read_text())
    if field is None:
        data = value
    else:
        data[field] = value
    path.write_text(json.dumps(data))
    try:
        network2.load(str(path))
    except ValueError:
        pass


@FAST
@given(data=st.binary(max_size=300))
def test_network2_load_of_random_bytes_raises_value_error(tmp_path, data):
    path = tmp_path / "random.json"
    path.write_bytes(data)
    with pytest.raises(ValueError):
        network2.load(str(path))


def test_network2_load_does_not_allocate_the_sizes_a_file_declares(tmp_path):
    path = tmp_path / "huge.json"
    path.write_text(
        json.dumps(
            {
                "sizes": [10**6, 10**6],
                "weights": [[[0.0]]],
                "biases": [[[0.0]]],
                "cost": "CrossEntropyCost",
            }
        )
    )
    with pytest.raises(ValueError, match="do not match sizes"):
        network2.load(str(path))


@pytest.fixture(scope="module")
def checkpoint_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoint") / "run"
    run_training(TrainSettings(epochs=1, reg="l1-cumulative", lmbda=1.0), out=folder)
    return folder


def fresh_state():
    network = nnreg.Network([64, 30, 10], rng=0)
    regularizer = nnreg.make_regularizer("l1-cumulative", 1.0)
    state = TrainingState(
        {}, regularizer.init_state(network.weights, network.biases), np.random.default_rng(0)
    )
    return network, state


@FAST
@given(cut=st.integers(0, 10**6), flip=st.integers(0, 10**6), junk=st.binary(max_size=16))
def test_damaged_checkpoints_raise_checkpoint_error_or_load(
    tmp_path, checkpoint_folder, cut, flip, junk
):
    original = (checkpoint_folder / "checkpoint.npz").read_bytes()
    damaged = bytearray(original[: cut % (len(original) + 1)])
    if damaged:
        damaged[flip % len(damaged)] ^= 0xFF
    (tmp_path / "checkpoint.npz").write_bytes(bytes(damaged) + junk)
    network, state = fresh_state()
    try:
        load_checkpoint(tmp_path, network, state)
    except CheckpointError:
        pass


def test_checkpoint_with_a_lying_array_header_raises_checkpoint_error(tmp_path, checkpoint_folder):
    with (
        zipfile.ZipFile(checkpoint_folder / "checkpoint.npz") as source,
        zipfile.ZipFile(tmp_path / "checkpoint.npz", "w") as target,
    ):
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "weights_0.npy":
                content = content.replace(b"(30, 64)", b"(9999999, 9999)")
            target.writestr(item, content)
    network, state = fresh_state()
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path, network, state)


@FAST
@given(text=st.text(max_size=200))
def test_grid_files_raise_value_error_or_load(tmp_path, text):
    path = tmp_path / "grid.toml"
    path.write_text(text)
    try:
        axes, train = read_grid_file(path)
    except ValueError:
        return
    assert isinstance(axes, dict) and isinstance(train, dict)


@FAST
@given(config=st.binary(max_size=100), metrics=st.binary(max_size=100))
def test_run_folders_with_random_files_raise_value_error_or_load(tmp_path, config, metrics):
    (tmp_path / "config.json").write_bytes(config)
    (tmp_path / "metrics.jsonl").write_bytes(metrics)
    try:
        read_run(tmp_path)
    except ValueError:
        pass
