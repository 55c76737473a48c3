import numpy as np
import pytest
from conftest import REGULARIZER_NAMES, build_regularizer
from reference import backprop, finite_difference_gradient, relative_error

import nnreg
from nnreg.activations import ACTIVATIONS
from nnreg.costs import COSTS

ACTIVATION_COST = [(a, c) for a in sorted(ACTIVATIONS) for c in COSTS]


def tiny_problem(rng, activation, cost, sizes=(4, 5, 3), m=6):
    network = nnreg.Network(list(sizes), activation, cost, rng=rng)
    inputs = rng.normal(size=(m, sizes[0]))
    targets = np.eye(sizes[-1])[rng.integers(0, sizes[-1], size=m)]
    return network, inputs, targets


@pytest.mark.parametrize("regularize_biases", [False, True])
@pytest.mark.parametrize("reg_name", REGULARIZER_NAMES)
@pytest.mark.parametrize("activation, cost", ACTIVATION_COST)
def test_gradient_of_data_cost_plus_penalty_matches_finite_differences(
    activation, cost, reg_name, regularize_biases, rng
):
    network, inputs, targets = tiny_problem(rng, activation, cost)
    regularizer = build_regularizer(reg_name, regularize_biases=regularize_biases)
    n = 5  # small n, so the penalty weighs as much as the data cost

    def total_cost():
        return network.data_cost(inputs, targets) + regularizer.penalty(
            network.weights, network.biases, n
        )

    weight_grads, bias_grads = network.gradients(inputs, targets)
    penalty_w, penalty_b = regularizer.penalty_gradient(network.weights, network.biases, n)
    analytic = [g + p for g, p in zip(weight_grads + bias_grads, penalty_w + penalty_b)]
    numeric = finite_difference_gradient(total_cost, network.weights + network.biases)
    assert relative_error(analytic, numeric) < 1e-6


@pytest.mark.parametrize("activation, cost", ACTIVATION_COST)
def test_batch_gradient_is_the_mean_of_per_example_backprop(activation, cost, rng):
    network, inputs, targets = tiny_problem(rng, activation, cost, sizes=(3, 4, 4, 2), m=5)
    biases = [b.reshape(-1, 1) for b in network.biases]
    per_example = [
        backprop(network.weights, biases, x.reshape(-1, 1), y.reshape(-1, 1), activation, cost)
        for x, y in zip(inputs, targets)
    ]
    weight_grads, bias_grads = network.gradients(inputs, targets)
    for layer in range(network.num_layers):
        mean_w = np.mean([dw[layer] for dw, _ in per_example], axis=0)
        mean_b = np.mean([db[layer] for _, db in per_example], axis=0)
        np.testing.assert_allclose(weight_grads[layer], mean_w, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(bias_grads[layer], mean_b.ravel(), rtol=1e-12, atol=1e-14)


def test_default_initializer_scales_weights_by_one_over_sqrt_fan_in():
    network = nnreg.Network([400, 300, 10], rng=0)
    assert network.weights[0].std() == pytest.approx(1 / np.sqrt(400), rel=0.02)
    assert network.weights[1].std() == pytest.approx(1 / np.sqrt(300), rel=0.05)
    assert network.biases[0].std() == pytest.approx(1.0, rel=0.15)
    large = nnreg.Network([400, 300, 10], initializer="large", rng=0)
    assert large.weights[0].std() == pytest.approx(1.0, rel=0.02)


def test_same_seed_gives_identical_initial_weights_and_other_seed_does_not():
    a, b, c = (nnreg.Network([8, 6, 3], rng=seed) for seed in (7, 7, 8))
    assert all(np.array_equal(x, y) for x, y in zip(a.weights + a.biases, b.weights + b.biases))
    assert not np.array_equal(a.weights[0], c.weights[0])


def test_float32_network_keeps_float32_through_forward_and_backward(rng):
    network = nnreg.Network([4, 5, 3], dtype="float32", rng=rng)
    inputs = rng.normal(size=(6, 4)).astype(np.float32)
    targets = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2]]
    assert network.feedforward(inputs).dtype == np.float32
    weight_grads, bias_grads = network.gradients(inputs, targets)
    assert all(g.dtype == np.float32 for g in weight_grads + bias_grads)


def test_shapes_follow_the_books_convention():
    network = nnreg.Network([4, 5, 3], rng=0)
    assert [w.shape for w in network.weights] == [(5, 4), (3, 5)]
    assert [b.shape for b in network.biases] == [(5,), (3,)]
    assert network.num_weights() == 35
