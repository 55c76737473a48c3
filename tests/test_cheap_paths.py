"""What makes whole commands and scripts fast must not change a number: each shortcut
against the plain computation it replaces, bit for bit, and the costs it removes
(imports, forward passes, stacking, copies) checked as counts, not times."""

import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest

import nnreg
import nnreg.network2 as network2
from nnreg import example_rows, kernels, mnist_loader
from nnreg.monitors import (
    BLOCK,
    CostMonitor,
    EpochContext,
    GradientShareMonitor,
)
from nnreg.network import Network
from nnreg.runs import read_run
from nnreg.session import TrainSettings, run_training, total_times


def plain_cost_and_accuracy(network, data):
    """The monitors' numbers the plain way: a fresh conversion and forward pass per block,
    in row order."""
    total, correct = 0.0, 0
    for start in range(0, len(data), BLOCK):
        stop = min(start + BLOCK, len(data))
        zs, activations = network.forward(data.input_rows(start, stop, network.dtype))
        total += float(network.cost.fn(zs[-1], activations[-1], data.targets[start:stop]).sum())
        correct += int(np.sum(np.argmax(activations[-1], axis=1) == data.labels[start:stop]))
    return total / len(data), correct / len(data)


def blocks_of(dataset, copies):
    """A byte-coded data set longer than one block: the digits (pixels k/16) as codes k,
    repeated."""
    codes = np.rint(dataset.inputs * 16).astype(np.uint8)
    assert np.array_equal(codes / 16.0, dataset.inputs)
    return nnreg.datasets.Dataset(
        np.concatenate([codes] * copies),
        np.concatenate([dataset.targets] * copies),
        np.concatenate([dataset.labels] * copies),
        16.0,
    )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_monitors_sharing_a_forward_pass_give_the_plain_numbers(digits, dtype, monkeypatch):
    training = blocks_of(digits["training"], 12)  # > 10,000 rows: several blocks
    assert len(training) > BLOCK and training.coded
    network = Network([64, 20, 10], rng=1, dtype=dtype)
    regularizer = nnreg.make_regularizer("l2", 2.0)
    context = EpochContext(
        network, regularizer, len(training), {"training": training, "test": digits["test"]}
    )
    calls = []
    forward = Network.forward

    def counting(self, inputs):
        calls.append(len(inputs))
        return forward(self, inputs)

    monkeypatch.setattr(Network, "forward", counting)
    costs = CostMonitor().measure(context)
    shares = GradientShareMonitor().measure(context)["gradient_share"]
    monkeypatch.setattr(Network, "forward", forward)
    # one forward pass per block, the gradient share's sample included (it is block 0)
    blocks = -(-len(training) // BLOCK) + 1
    assert len(calls) == blocks
    for name in ("training", "test"):
        data_cost, accuracy = plain_cost_and_accuracy(network, context.datasets[name])
        assert costs[name]["data_cost"] == data_cost  # bit for bit
        assert costs[name]["accuracy"] == accuracy
    inputs = training.input_rows(0, BLOCK, network.dtype)
    weight_gradients, _ = network.gradients(inputs, training.targets[:BLOCK])
    for share, gradient in zip(shares, weight_gradients):
        assert share["data_gradient_norm"] == float(np.linalg.norm(gradient))


def test_a_new_measurement_forgets_the_kept_forward_pass(digits):
    network = Network([64, 5, 10], rng=0)
    context = EpochContext(network, nnreg.make_regularizer("none"), 100, dict(digits))
    before = context.forward_block("training", 0, 100)[1][-1].copy()
    network.weights[0] += 1.0
    assert np.array_equal(context.forward_block("training", 0, 100)[1][-1], before)  # kept
    context.new_measurement()
    assert not np.array_equal(context.forward_block("training", 0, 100)[1][-1], before)


def test_every_epoch_records_its_parts_and_the_summary_their_totals(tmp_path):
    result = run_training(TrainSettings(epochs=2), out=tmp_path / "run")
    for record in result.history.records:
        times = record["time"]
        assert set(times) == {"training_steps", "monitors", "checkpoint", "epoch"}
        assert all(value > 0 for value in times.values())
        assert times["epoch"] >= times["training_steps"] + times["monitors"] + times["checkpoint"]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert "seconds" not in summary
    totals = total_times(result.history.records)
    assert {k: summary["time"][k] for k in totals} == totals
    assert summary["time"]["epochs"] == pytest.approx(
        sum(r["time"]["epoch"] for r in result.history.records)
    )
    assert summary["time"]["run"] >= summary["time"]["epochs"]
    lines = read_run(tmp_path / "run")["metrics"]
    assert [line["time"] for line in lines] == [r["time"] for r in result.history.records]


def test_older_records_with_seconds_still_add_up():
    records = [{"seconds": 1.5}, {"seconds": 0.5}]
    assert total_times(records) == {
        "training_steps": 2.0,
        "monitors": 0.0,
        "checkpoint": 0.0,
        "epochs": 2.0,
    }


def modules_after(code):
    output = subprocess.run(
        [sys.executable, "-c", code + "; import sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "NNREG_NUMBA": "1"},
    ).stdout.split()
    return set(output)


@pytest.mark.parametrize(
    "code",
    [
        "import nnreg",
        "import nnreg.cli",
        "from nnreg.cli import main; main(['--help'], standalone_mode=False)",
    ],
)
def test_start_up_imports_no_heavy_library(code):
    """``nnreg --help`` and ``import nnreg`` load neither SciPy, matplotlib nor Numba (each
    takes a third of a second or more); commands load what they use when they run."""
    loaded = modules_after(code)
    heavy = {"scipy", "matplotlib", "numba", "torch", "dask", "sklearn"}
    assert not heavy & {name.split(".")[0] for name in loaded}


def test_an_l2_run_does_not_start_numba_but_an_l1_run_does(tmp_path):
    code = (
        "from nnreg.session import TrainSettings, run_training; import sys; "
        "run_training(TrainSettings(epochs=1, reg=sys.argv[1]), out=sys.argv[2]); "
        "print('numba' in sys.modules)"
    )
    started = {}
    for reg in ("l2", "l1"):
        result = subprocess.run(
            [sys.executable, "-c", code, reg, str(tmp_path / reg)],
            capture_output=True,
            text=True,
            check=True,
        )
        started[reg] = result.stdout.split()[-1] == "True"
    assert started["l2"] is False
    if kernels.compiled():  # Numba installed
        assert started["l1"] is True


@pytest.mark.skipif(not kernels.compiled(), reason="Numba not installed")
def test_the_compiled_loops_come_from_the_cache_in_the_next_process():
    code = (
        "from nnreg import kernels, _compiled; kernels.compiled(); "
        "print(sum(_compiled.gather_divided.stats.cache_misses.values()))"
    )
    misses = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()[-1]
        for _ in range(2)
    ]
    assert misses[-1] == "0"  # the second process compiled nothing


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_byte_codes_convert_to_the_reference_numbers_on_every_path(digits, dtype):
    """A mini-batch gather, and a block converted into a reused buffer, equal the reference
    conversion (codes divided in float64, then rounded to dtype), compiled loop or not."""
    data = blocks_of(digits["training"], 1)
    reference = (data.inputs / 16.0).astype(dtype)
    rows = np.random.default_rng(0).permutation(len(data))[:37]
    gather = nnreg.training.BatchGatherer(data.inputs, data.targets, data.input_divisor, dtype)
    got, _ = gather(rows)
    assert np.array_equal(got, reference[rows])
    out = np.empty((len(data) + 5, data.inputs.shape[1]), dtype)
    into = data.input_rows(3, 40, dtype, out=out)
    assert np.shares_memory(into, out) and np.array_equal(into, reference[3:40])


# -- the network2 front ------------------------------------------------------------------


@pytest.fixture(scope="module")
def loaded(mnist_folder):
    return mnist_loader.load_data_wrapper(mnist_folder.parent)


def test_the_loaders_columns_are_found_again_by_identity(loaded):
    training = list(loaded[0])  # a plain list, as learners' scripts make
    xs = [x for x, _ in training]
    found = example_rows.find_rows(xs)
    assert found.in_order and np.shares_memory(found.inputs(), xs[0])
    head = example_rows.find_rows(xs[:100])
    assert head.in_order and len(head.inputs()) == 100
    shuffled = xs[:500]
    random.Random(1).shuffle(shuffled)
    located = example_rows.find_rows(shuffled)
    assert not located.in_order
    assert np.array_equal(located.inputs(), np.array(shuffled).reshape(500, -1))
    # an equal copy is not the loader's row: never mistaken for one
    assert example_rows.find_rows([xs[0].copy(), *xs[1:10]]) is None
    assert example_rows.find_rows([np.zeros((784, 1))]) is None
    assert example_rows.find_rows([]) is None


def test_sgd_on_the_loaders_lists_neither_stacks_nor_evaluates_twice(loaded, monkeypatch, capsys):
    def no_stacking(*args):
        raise AssertionError("stacked the loader's columns")

    monkeypatch.setattr(network2, "_stack", no_stacking)
    forwards = []
    feedforward = Network.feedforward

    def counting(self, inputs):
        forwards.append(len(inputs))
        return feedforward(self, inputs)

    monkeypatch.setattr(Network, "feedforward", counting)
    training, validation = list(loaded[0])[:3000], list(loaded[1])[:500]
    net = network2.Network([784, 20, 10], cost=network2.CrossEntropyCost)
    net.SGD(
        training,
        2,
        10,
        0.5,
        lmbda=5.0,
        evaluation_data=validation,
        monitor_evaluation_cost=True,
        monitor_evaluation_accuracy=True,
        monitor_training_cost=True,
        monitor_training_accuracy=True,
    )
    # per epoch: one pass over the training set, one over the evaluation set
    assert forwards == [3000, 500, 3000, 500]
    capsys.readouterr()


def test_network2_monitors_equal_its_own_methods_bit_for_bit(loaded, capsys):
    training, validation = list(loaded[0])[:2000], list(loaded[1])[:300]
    random.seed(2)
    np.random.seed(2)
    net = network2.Network([784, 20, 10], cost=network2.CrossEntropyCost)
    result = net.SGD(
        training,
        1,
        10,
        0.5,
        lmbda=5.0,
        evaluation_data=validation,
        monitor_evaluation_cost=True,
        monitor_evaluation_accuracy=True,
        monitor_training_cost=True,
        monitor_training_accuracy=True,
    )
    copies = [(x.copy(), y.copy()) for x, y in training]  # stacked the plain way
    assert result[2] == [net.total_cost(copies, 5.0)]
    assert result[3] == [net.accuracy(copies, convert=True)]
    assert result[0] == [net.total_cost([(x.copy(), y) for x, y in validation], 5.0, True)]
    assert result[1] == [net.accuracy(validation)]
    capsys.readouterr()


def test_blocked_outputs_equal_one_pass_over_the_whole_set(loaded):
    inputs = example_rows.find_rows([x for x, _ in loaded[0]]).inputs()
    engine = network2.Network([784, 30, 10])._engine()
    assert len(inputs) > BLOCK
    assert np.array_equal(network2._outputs(engine, inputs), engine.feedforward(inputs))
