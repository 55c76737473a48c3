import re

import numpy as np
import pytest
from conftest import REGULARIZER_NAMES, build_regularizer
from reference import ReferenceTrainer

import nnreg
from nnreg.training import TrainingState, training_step

REFERENCE_CASES = [
    (reg, activation, cost, momentum)
    for reg in REGULARIZER_NAMES
    for activation, cost in (
        ("sigmoid", "cross-entropy"),
        ("tanh", "quadratic"),
        ("relu", "log-likelihood"),
    )
    for momentum in (0.0, 0.8)
]


@pytest.mark.parametrize("regularize_biases", [False, True])
@pytest.mark.parametrize("reg_name, activation, cost, momentum", REFERENCE_CASES)
def test_vectorized_update_equals_per_example_reference_loop(
    reg_name, activation, cost, momentum, regularize_biases, rng
):
    eta, lmbda, l2_lmbda, n, m = 0.3, 2.0, 0.5, 40, 7
    network = nnreg.Network([4, 6, 3], activation, cost, rng=rng)
    # A large λ·η/n so the L1 shrinkage reaches zero within a few steps.
    regularizer = build_regularizer(reg_name, lmbda, l2_lmbda, regularize_biases)
    optimizer = nnreg.make_optimizer(eta, momentum)
    reference = ReferenceTrainer(
        network.weights,
        network.biases,
        activation,
        cost,
        reg_name,
        lmbda,
        l2_lmbda,
        eta,
        momentum,
        n,
        regularize_biases,
    )
    state = TrainingState(
        optimizer.init_state(network.weights + network.biases),
        regularizer.init_state(network.weights, network.biases),
        rng,
    )
    for _ in range(6):
        inputs = rng.normal(size=(m, 4))
        targets = np.eye(3)[rng.integers(0, 3, size=m)]
        training_step(network, inputs, targets, optimizer, regularizer, n, state)
        reference.update_mini_batch(inputs, targets)
    for ours, theirs in zip(network.weights + network.biases, reference.weights + reference.biases):
        np.testing.assert_allclose(ours, theirs.reshape(ours.shape), rtol=1e-12, atol=1e-12)


def test_train_over_whole_epochs_equals_reference_loop_with_same_shuffling(digits):
    training = digits["training"]
    network = nnreg.Network([64, 12, 10], rng=3)
    reference = ReferenceTrainer(
        network.weights,
        network.biases,
        "sigmoid",
        "cross-entropy",
        "l2",
        3.0,
        0.0,
        0.5,
        0.0,
        len(training),
    )
    nnreg.train(
        network,
        training,
        epochs=2,
        batch_size=50,
        optimizer=nnreg.SGD(0.5),
        regularizer=nnreg.L2(3.0),
        rng=11,
    )
    shuffle = np.random.default_rng(11)
    for _ in range(2):
        order = shuffle.permutation(len(training))
        for start in range(0, len(training), 50):
            rows = order[start : start + 50]  # the last batch is smaller: 1197 = 23·50 + 47
            reference.update_mini_batch(training.inputs[rows], training.targets[rows])
    for ours, theirs in zip(network.weights + network.biases, reference.weights + reference.biases):
        np.testing.assert_allclose(ours, theirs.reshape(ours.shape), rtol=1e-12, atol=1e-12)


def run(digits, seed, reg="l2", epochs=3, **kwargs):
    network = nnreg.Network([64, 20, 10], rng=seed)
    history = nnreg.train(
        network,
        digits["training"],
        epochs=epochs,
        batch_size=10,
        optimizer=nnreg.SGD(0.5),
        regularizer=build_regularizer(reg, 1.0),
        evaluation_data={"validation": digits["validation"]},
        rng=seed,
        **kwargs,
    )
    return network, history


def test_same_seed_gives_bit_identical_weights_and_other_seed_does_not(digits):
    first, history_a = run(digits, seed=5)
    second, history_b = run(digits, seed=5)
    other, _ = run(digits, seed=6)
    for a, b, c in zip(
        first.weights + first.biases, second.weights + second.biases, other.weights + other.biases
    ):
        assert np.array_equal(a, b)
        assert not np.array_equal(a, c)
    assert history_a.series("validation", "data_cost") == history_b.series(
        "validation", "data_cost"
    )


def test_only_proximal_and_cumulative_l1_produce_exact_zeros(digits):
    results = {}
    for reg in ("l1", "l1-proximal", "l1-cumulative"):
        network = nnreg.Network([64, 30, 10], rng=0)
        history = nnreg.train(
            network,
            digits["training"],
            epochs=15,
            batch_size=10,
            optimizer=nnreg.SGD(0.5),
            regularizer=build_regularizer(reg, 2.0),
            evaluation_data={"validation": digits["validation"]},
            rng=0,
        )
        results[reg] = (
            history.last["weights"]["fraction_zero"],
            history.last["validation"]["accuracy"],
        )
    assert results["l1"][0] < 0.01
    assert results["l1-proximal"][0] > 0.2
    assert results["l1-cumulative"][0] > 0.2
    accuracies = [accuracy for _, accuracy in results.values()]
    assert min(accuracies) > 0.85
    assert max(accuracies) - min(accuracies) < 0.05


def test_costs_are_recorded_split_with_the_penalty_using_the_training_n(digits):
    network, history = run(digits, seed=1, epochs=1)
    record = history.last
    n = len(digits["training"])
    expected_penalty = nnreg.L2(1.0).penalty(network.weights, network.biases, n)
    for name in ("training", "validation"):
        costs = record[name]
        assert costs["penalty"] == pytest.approx(expected_penalty, rel=1e-12)
        assert costs["total_cost"] == pytest.approx(costs["data_cost"] + costs["penalty"])
        data = digits[name]
        assert costs["data_cost"] == pytest.approx(network.data_cost(data.inputs, data.targets))
        assert costs["accuracy"] == pytest.approx(
            np.mean(network.predict(data.inputs) == data.labels)
        )


def test_training_set_size_override_is_the_n_of_the_penalty(digits):
    network, history = run(digits, seed=1, epochs=1, training_set_size=50_000)
    expected = nnreg.L2(1.0).penalty(network.weights, network.biases, 50_000)
    assert history.last["training"]["penalty"] == pytest.approx(expected, rel=1e-12)


def test_divergence_stops_with_a_clear_message_and_keeps_the_metrics(digits):
    # ηλ/n ≈ 4.2 > 2: each L2 step multiplies the weights by about −3.2, so they blow up;
    # said at the start (a warning) and in the error, with the numbers
    network = nnreg.Network([64, 30, 10], rng=0)
    n = len(digits["training"])
    unstable = re.escape(f"1 − ηλ/n = 1 − 0.5·10000/{n} = {1 - 0.5 * 10000 / n:.3g} ≤ 0")
    with (
        pytest.warns(nnreg.training.UnstableDecayWarning, match=unstable),
        pytest.raises(nnreg.TrainingDiverged, match=unstable) as caught,
    ):
        nnreg.train(
            network,
            digits["training"],
            epochs=20,
            batch_size=10,
            optimizer=nnreg.SGD(0.5),
            regularizer=nnreg.L2(10_000.0),
            rng=0,
        )
    history = caught.value.history
    assert history.records and history.last["diverged"]
    assert caught.value.epoch == history.last["epoch"]


def test_float32_training_keeps_float32_parameters(digits):
    network = nnreg.Network([64, 20, 10], dtype="float32", rng=0)
    history = nnreg.train(
        network,
        digits["training"],
        epochs=2,
        batch_size=10,
        optimizer=nnreg.SGD(0.5),
        regularizer=nnreg.L2(1.0),
        rng=0,
        evaluation_data={"validation": digits["validation"]},
    )
    assert all(p.dtype == np.float32 for p in network.weights + network.biases)
    assert history.last["validation"]["accuracy"] > 0.8


def test_training_accepts_plain_arrays_of_inputs_and_labels(rng):
    inputs = rng.normal(size=(30, 4))
    labels = (inputs[:, 0] > 0).astype(int)
    network = nnreg.Network([4, 3, 2], rng=0)
    history = nnreg.train(
        network, (inputs, labels), epochs=2, batch_size=5, optimizer=nnreg.SGD(0.1)
    )
    assert len(history.records) == 2


class CountingCallback(nnreg.Callback):
    def __init__(self):
        self.steps, self.epochs = 0, []

    def on_steps(self, steps):
        self.steps += steps

    def on_epoch_end(self, record, network):
        self.epochs.append(record["epoch"])


def test_callbacks_see_every_step_and_every_epoch(digits):
    callback = CountingCallback()
    run(digits, seed=0, epochs=2, callbacks=[callback])
    assert callback.steps == 2 * -(-len(digits["training"]) // 10)
    assert callback.epochs == [1, 2]
