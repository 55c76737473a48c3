import numpy as np
import pytest
from click.testing import CliRunner
from test_regularizers import zero_data_gradient

import nnreg
from nnreg.cli import main
from nnreg.combined import Combined
from nnreg.training import TrainingState, training_step


def one_step(regularizer, eta=0.5, n=100, seed=0):
    network = nnreg.Network([4, 5, 3], rng=seed)
    before = [p.copy() for p in network.weights + network.biases]
    state = TrainingState({}, regularizer.init_state(network.weights, network.biases), None)
    rng = np.random.default_rng(seed)
    inputs, targets = rng.normal(size=(6, 4)), np.eye(3)[rng.integers(0, 3, size=6)]
    training_step(network, inputs, targets, nnreg.SGD(eta), regularizer, n, state)
    return before, network.weights + network.biases


def test_a_combination_of_one_is_bit_identical_to_the_regularizer_itself(digits):
    def trained(regularizer):
        network = nnreg.Network([64, 12, 10], rng=0)
        nnreg.train(
            network,
            digits["training"],
            epochs=2,
            batch_size=10,
            optimizer=nnreg.SGD(0.5),
            regularizer=regularizer,
            rng=1,
        )
        return network.weights + network.biases

    for ours, theirs in zip(
        trained(Combined([nnreg.L1(2.0, method="cumulative")])),
        trained(nnreg.L1(2.0, method="cumulative")),
    ):
        np.testing.assert_array_equal(ours, theirs)


def test_each_layer_gets_its_own_regularizer_and_lambda(monkeypatch):
    zero_data_gradient(monkeypatch)
    eta, n = 0.5, 100
    regularizer = Combined([nnreg.L2(4.0, layers=[1]), nnreg.L1(2.0, layers=[2])])
    (w1, w2, b1, b2), (v1, v2, c1, c2) = one_step(regularizer, eta, n)
    np.testing.assert_allclose(v1, (1 - eta * 4.0 / n) * w1, rtol=1e-13)
    np.testing.assert_allclose(v2, w2 - eta * 2.0 / n * np.sign(w2), rtol=1e-13)
    np.testing.assert_array_equal(c1, b1)  # biases: not regularized by default
    np.testing.assert_array_equal(c2, b2)


def test_biases_of_one_layer_only_when_asked(monkeypatch):
    zero_data_gradient(monkeypatch)
    eta, n = 0.5, 100
    (w1, w2, b1, b2), (v1, v2, c1, c2) = one_step(
        nnreg.L2(3.0, regularize_biases=True, layers=[2]), eta, n
    )
    np.testing.assert_array_equal(v1, w1)
    np.testing.assert_array_equal(c1, b1)
    np.testing.assert_allclose(c2, (1 - eta * 3.0 / n) * b2, rtol=1e-13)
    np.testing.assert_allclose(v2, (1 - eta * 3.0 / n) * w2, rtol=1e-13)


def test_penalties_and_gradients_add_up(rng):
    weights, biases = [rng.normal(size=(3, 2)), rng.normal(size=(2, 3))], [np.zeros(3), np.zeros(2)]
    parts = [nnreg.L2(2.0, layers=[1]), nnreg.L1(1.0)]
    combined = Combined(parts)
    assert combined.penalty(weights, biases, 50) == pytest.approx(
        sum(p.penalty(weights, biases, 50) for p in parts)
    )
    grads, _ = combined.penalty_gradient(weights, biases, 50)
    expected = [2.0 / 50 * weights[0] + np.sign(weights[0]) / 50, np.sign(weights[1]) / 50]
    for g, e in zip(grads, expected):
        np.testing.assert_allclose(g, e)


def test_unknown_layer_in_a_mask_is_a_clear_error():
    with pytest.raises(ValueError, match="weight layer 3, but the network has 2"):
        Combined([nnreg.L2(1.0, layers=[3])]).check_layers(2)
    result = CliRunner().invoke(main, ["train", "--reg-layers", "3", "--epochs", "1"])
    assert result.exit_code == 2 and "--reg-layers" in result.output


@pytest.mark.parametrize(
    "parts, decoupled, coupled",
    [
        ([nnreg.L1(3.0), nnreg.DecoupledWeightDecay(2.0)], 2.0, 0.0),  # a before-step hook acts
        ([nnreg.L1(3.0), nnreg.L2(2.0)], 0.0, 2.0),  # the sign term joins the weights first
    ],
)
def test_subgradient_l1_with_weight_decay_is_one_sgd_step_from_the_old_weights(
    parts, decoupled, coupled
):
    """w ← (1 − ηλ_d/n)·w − η·(g + (λ₁/n)·sgn(w) + (λ₂/n)·w), every term at the old weights."""
    eta, n = 0.5, 100
    network = nnreg.Network([4, 5, 3], rng=0)
    rng = np.random.default_rng(0)
    inputs, targets = rng.normal(size=(6, 4)), np.eye(3)[rng.integers(0, 3, size=6)]
    weight_grads, _ = network.gradients(inputs, targets)
    expected = [
        (1 - eta * decoupled / n) * w - eta * (g + 3.0 / n * np.sign(w) + coupled / n * w)
        for w, g in zip(network.weights, weight_grads)
    ]
    _, params = one_step(Combined(parts), eta, n)
    for ours, theirs in zip(params[:2], expected):
        np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-15)
