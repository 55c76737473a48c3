import numpy as np
import pytest
from conftest import REGULARIZER_NAMES, build_regularizer
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from reference import cumulative_loop, soft_threshold_loop

import nnreg
from nnreg.regularizers import soft_threshold
from nnreg.training import TrainingState, training_step


def zero_data_gradient(monkeypatch):
    """Hold the data gradient at zero, so only the regularizer moves the weights."""
    backprop = nnreg.Network.backprop

    def backprop_with_zero_errors(self, inputs, targets, workspace, *hooks):
        backprop(self, inputs, targets, workspace, *hooks)
        for delta in workspace.deltas:
            delta[...] = 0.0  # every gradient (δᵀ·A and δᵀ·1) is zero

    monkeypatch.setattr(nnreg.Network, "backprop", backprop_with_zero_errors)


def step_with_batch_size(regularizer, m, eta=0.5, n=1000, momentum=0.0, seed=0, steps=1):
    network = nnreg.Network([5, 4, 3], rng=seed)
    optimizer = nnreg.make_optimizer(eta, momentum)
    state = TrainingState(
        optimizer.init_state(network.weights + network.biases),
        regularizer.init_state(network.weights, network.biases),
        np.random.default_rng(0),
    )
    before = [p.copy() for p in network.weights + network.biases]
    inputs = np.ones((m, 5))
    targets = np.zeros((m, 3))
    for _ in range(steps):
        training_step(network, inputs, targets, optimizer, regularizer, n, state)
    return before, network


@pytest.mark.parametrize("m", [1, 10, 100])
def test_l2_step_multiplies_weights_by_one_minus_eta_lambda_over_n(monkeypatch, m):
    zero_data_gradient(monkeypatch)
    eta, lmbda, n = 0.5, 5.0, 1000
    before, network = step_with_batch_size(nnreg.L2(lmbda), m, eta, n)
    factor = 1 - eta * lmbda / n
    for w0, w in zip(before[:2], network.weights):
        np.testing.assert_allclose(w, factor * w0, rtol=4e-16, atol=0)
    for b0, b in zip(before[2:], network.biases):
        assert np.array_equal(b, b0)  # biases are not decayed by default


@pytest.mark.parametrize("m", [1, 10, 100])
@pytest.mark.parametrize("method", ["proximal", "cumulative"])
def test_proximal_l1_step_is_the_soft_threshold_and_ignores_m(monkeypatch, m, method):
    zero_data_gradient(monkeypatch)
    eta, lmbda, n = 0.5, 300.0, 1000  # threshold 0.15: some weights reach zero
    before, network = step_with_batch_size(nnreg.L1(lmbda, method=method), m, eta, n)
    t = eta * lmbda / n
    for w0, w in zip(before[:2], network.weights):
        expected = np.sign(w0) * np.maximum(np.abs(w0) - t, 0)  # the closed form
        np.testing.assert_allclose(w, expected, rtol=1e-15, atol=1e-16)
    assert any((w == 0).any() for w in network.weights)


@pytest.mark.parametrize("reg_name", REGULARIZER_NAMES)
def test_pure_regularization_step_does_not_depend_on_batch_size(monkeypatch, reg_name):
    zero_data_gradient(monkeypatch)
    results = [
        step_with_batch_size(build_regularizer(reg_name, 50.0), m, steps=3)[1] for m in (1, 7, 64)
    ]
    for other in results[1:]:
        for a, b in zip(results[0].weights, other.weights):
            assert np.array_equal(a, b)


finite = st.floats(-10, 10, allow_nan=False, allow_subnormal=False)
weights = arrays(np.float64, st.integers(1, 40), elements=finite)
positive = st.floats(1e-4, 10, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(w=weights, eta=positive, lmbda=positive, n=st.integers(1, 100_000))
def test_proximal_step_never_flips_sign_nor_grows_a_weight(w, eta, lmbda, n):
    shrunk = w.copy()
    nnreg.L1(lmbda, method="proximal").after_step([shrunk], [np.zeros(1)], eta, n, {})
    assert np.all(np.abs(shrunk) <= np.abs(w))
    assert np.all(shrunk * w >= 0)
    assert np.array_equal(shrunk, soft_threshold_loop(w, eta * lmbda / n))


@settings(max_examples=200, deadline=None)
@given(w=weights, eta=positive, lmbda=positive, n=st.integers(1, 100_000))
def test_subgradient_step_moves_every_nonzero_weight_by_eta_lambda_over_n(w, eta, lmbda, n):
    weights_, biases_ = [w.copy()], [np.zeros(1)]
    grads = [np.zeros_like(w)]
    nnreg.L1(lmbda, method="subgradient").add_gradient(weights_, biases_, grads, [np.zeros(1)], n)
    nnreg.SGD(eta).step(weights_, grads, [0.0], {})
    moved = w - weights_[0]
    t = eta * lmbda / n
    np.testing.assert_allclose(moved, t * np.sign(w), rtol=1e-12, atol=1e-12 * np.abs(w).max())
    assert np.array_equal(weights_[0][w == 0], w[w == 0])


def test_subgradient_l1_oscillates_around_zero_while_proximal_settles_on_it(monkeypatch):
    zero_data_gradient(monkeypatch)
    _, subgradient = step_with_batch_size(nnreg.L1(30.0), 10, steps=200)
    _, proximal = step_with_batch_size(nnreg.L1(30.0, method="proximal"), 10, steps=200)
    t = 0.5 * 30.0 / 1000
    assert all((w != 0).all() and (np.abs(w) <= t).all() for w in subgradient.weights)
    assert all((w == 0).all() for w in proximal.weights)


def test_cumulative_l1_matches_tsuruoka_per_weight_loop(rng):
    regularizer = nnreg.L1(1.0, method="cumulative")
    w = rng.normal(size=(4, 3))
    state = regularizer.init_state([w], [np.zeros(4)])
    ours, theirs, q, u = w.copy(), w.copy(), np.zeros_like(w), 0.0
    t = 0.02
    for _ in range(30):
        noise = rng.normal(scale=0.05, size=w.shape)
        ours += noise
        theirs += noise
        regularizer.after_step([ours], [np.zeros(4)], t * 10, 10, state)  # ηλ/n = t
        u += t
        cumulative_loop(theirs, u, q)
        np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(state["weights/0"]["applied"], q, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "regularizer, expected",
    [
        (nnreg.L2(2.0), 2.0 / (2 * 4) * (1 + 4 + 9 + 0.25)),
        (nnreg.L1(2.0), 2.0 / 4 * (1 + 2 + 3 + 0.5)),
        (nnreg.ElasticNet(2.0, 3.0), 2.0 / 4 * 6.5 + 3.0 / 8 * 14.25),
        (nnreg.DecoupledWeightDecay(2.0), 2.0 / 8 * 14.25),
        (nnreg.NoRegularization(), 0.0),
        (nnreg.L2(2.0, regularize_biases=True), 2.0 / 8 * (14.25 + 100)),
        (nnreg.L2([2.0, 0.0]), 2.0 / 8 * 14),
    ],
)
def test_penalty_values_match_hand_computed_closed_forms(regularizer, expected):
    weights = [np.array([[1.0, -2.0], [0.0, 3.0]]), np.array([[0.5]])]
    biases = [np.array([10.0, 0.0]), np.array([0.0])]
    assert regularizer.penalty(weights, biases, training_set_size=4) == pytest.approx(expected)


def test_per_layer_lambda_leaves_a_layer_with_zero_lambda_untouched(monkeypatch):
    zero_data_gradient(monkeypatch)
    before, network = step_with_batch_size(nnreg.L2([0.0, 5.0]), 10)
    assert np.array_equal(network.weights[0], before[0])
    assert not np.array_equal(network.weights[1], before[1])


def test_regularize_biases_decays_biases_with_their_layers_lambda(monkeypatch):
    zero_data_gradient(monkeypatch)
    before, network = step_with_batch_size(nnreg.L2(5.0, regularize_biases=True), 10)
    for b0, b in zip(before[2:], network.biases):
        np.testing.assert_allclose(b, (1 - 0.5 * 5.0 / 1000) * b0, rtol=4e-16)


def test_decoupled_decay_equals_l2_for_plain_sgd_and_differs_with_momentum(digits):
    def final_weights(regularizer, momentum):
        network = nnreg.Network([64, 10, 10], rng=0)
        nnreg.train(
            network,
            digits["training"],
            epochs=2,
            batch_size=20,
            optimizer=nnreg.make_optimizer(0.3, momentum),
            regularizer=regularizer,
            rng=0,
            monitors=[],
        )
        return network.weights

    for a, b in zip(
        final_weights(nnreg.L2(20.0), 0.0), final_weights(nnreg.DecoupledWeightDecay(20.0), 0.0)
    ):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    l2, decoupled = (
        final_weights(nnreg.L2(20.0), 0.9),
        final_weights(nnreg.DecoupledWeightDecay(20.0), 0.9),
    )
    # With momentum the L2 decay accumulates in the velocity: a stronger effective decay.
    assert sum(np.linalg.norm(w) for w in l2) < sum(np.linalg.norm(w) for w in decoupled)


def test_decoupled_decay_uses_the_weights_from_before_the_step(monkeypatch):
    zero_data_gradient(monkeypatch)
    eta, lmbda, n, mu = 0.5, 5.0, 1000, 0.9
    before, network = step_with_batch_size(
        nnreg.DecoupledWeightDecay(lmbda), 10, eta, n, mu, steps=3
    )
    for w0, w in zip(before[:2], network.weights):
        # the velocity holds only the (zero) data gradient, so momentum adds nothing
        np.testing.assert_allclose(w, (1 - eta * lmbda / n) ** 3 * w0, rtol=1e-15)


def test_soft_threshold_closed_form_on_hand_values():
    w = np.array([-3.0, -0.5, 0.0, 0.2, 2.0])
    np.testing.assert_array_equal(soft_threshold(w, 1.0), [-2.0, 0.0, 0.0, 0.0, 1.0])


def test_config_round_trips_through_make_regularizer():
    regularizer = nnreg.make_regularizer("l1-cumulative", [1.0, 2.0], regularize_biases=True)
    assert regularizer.config() == {
        "name": "l1",
        "lmbda": (1.0, 2.0),
        "regularize_biases": True,
        "method": "cumulative",
    }
    assert "method='cumulative'" in repr(regularizer)
