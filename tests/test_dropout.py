import numpy as np
import pytest
from click.testing import CliRunner

import nnreg
from nnreg.cli import main
from nnreg.combined import Combined
from nnreg.dropout import Dropout
from nnreg.network import Workspace


def train_digits(regularizer, digits, epochs=2):
    network = nnreg.Network([64, 20, 10], rng=0)
    nnreg.train(
        network,
        digits["training"],
        epochs=epochs,
        batch_size=10,
        optimizer=nnreg.SGD(0.5),
        regularizer=regularizer,
        rng=1,
    )
    return network


def test_rate_zero_is_bit_identical_to_no_dropout(digits):
    plain = train_digits(nnreg.L2(1.0), digits)
    dropped = train_digits(Combined([nnreg.L2(1.0), Dropout(0.0)]), digits)
    for a, b in zip(plain.weights + plain.biases, dropped.weights + dropped.biases):
        np.testing.assert_array_equal(a, b)


def test_kept_fraction_and_expected_activation_match_the_rate():
    dropout, rate = Dropout(0.3, seed=4), 0.3
    state = dropout.init_state([], [])
    activations = np.full((2000, 50), 0.8)
    dropout.on_hidden_activations(0, activations, state)
    kept = np.count_nonzero(activations) / activations.size
    # binomial standard deviation sqrt(0.21/100000) ≈ 0.0014: 5 of them
    assert kept == pytest.approx(1 - rate, abs=0.007)
    assert activations.mean() == pytest.approx(0.8, abs=0.008)  # expectation unchanged
    np.testing.assert_allclose(np.unique(activations), [0.0, 0.8 / 0.7])


def test_masks_differ_between_steps_and_repeat_with_the_seed():
    def masks(seed):
        dropout = Dropout(0.5, seed=seed)
        state = dropout.init_state([], [])
        drawn = []
        for _ in range(2):
            a = np.ones((4, 6))
            dropout.on_hidden_activations(0, a, state)
            drawn.append(a)
        return drawn

    first, second = masks(1), masks(1)
    assert not np.array_equal(first[0], first[1])
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_backprop_with_dropout_matches_finite_differences_of_the_masked_network(rng):
    network = nnreg.Network([5, 7, 6, 3], rng=rng)
    inputs, labels = rng.normal(size=(4, 5)), rng.integers(0, 3, size=4)
    targets = np.eye(3)[labels]
    dropout = Dropout(0.4, seed=9)
    state = dropout.init_state(network.weights, network.biases)
    workspace = Workspace(network, 4)
    network.backprop(inputs, targets, workspace, dropout, state)
    masks = dict(dropout._masks)
    weight_grads, _ = network.gradients_from(workspace)

    def masked_cost():
        a = inputs
        for layer, (w, b) in enumerate(zip(network.weights, network.biases)):
            z = a @ w.T + b
            if layer == network.num_layers - 1:
                a = network.cost.output(z)
                return float(np.mean(network.cost.fn(z, a, targets)))
            a = network.activation.fn(z) * masks[layer]

    for w, g in zip(network.weights, weight_grads):
        numeric = np.zeros_like(w)
        for index in np.ndindex(w.shape):
            saved = w[index]
            w[index] = saved + 1e-6
            up = masked_cost()
            w[index] = saved - 1e-6
            down = masked_cost()
            w[index] = saved
            numeric[index] = (up - down) / 2e-6
        np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-9)


def test_inference_is_deterministic_and_drops_nothing(digits):
    network = train_digits(Dropout(0.5, seed=2), digits, epochs=1)
    inputs = digits["test"].float_inputs()
    first, second = network.feedforward(inputs), network.feedforward(inputs)
    np.testing.assert_array_equal(first, second)
    manual = inputs
    for w, b in zip(network.weights, network.biases):
        manual = 1 / (1 + np.exp(-(manual @ w.T + b)))
    np.testing.assert_allclose(first, manual, rtol=1e-12)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan")])
def test_rate_outside_zero_one_is_rejected(rate):
    with pytest.raises(ValueError, match="dropout rate"):
        Dropout(rate)


def test_cli_rejects_a_bad_rate_with_exit_2(tmp_path):
    result = CliRunner().invoke(main, ["train", "--dropout", "1", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "--dropout" in result.output
    assert not (tmp_path / "r").exists()


def test_network2_dropout_keyword_trains_and_differs_from_no_dropout(digits):
    import random

    from nnreg import network2

    data = [
        (x.reshape(-1, 1), np.eye(10)[y].reshape(-1, 1))
        for x, y in zip(digits["training"].float_inputs()[:200], digits["training"].labels[:200])
    ]
    results = []
    for dropout in (0.0, 0.5):
        random.seed(0)
        np.random.seed(0)
        net = network2.Network([64, 20, 10])
        net.SGD(data, 1, 10, 0.5, dropout=dropout)
        results.append(net.weights[0].copy())
    assert not np.array_equal(*results)
