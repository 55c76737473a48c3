import numpy as np
import pytest

from nnreg.activations import ACTIVATIONS, get_activation


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_matches_finite_differences(name, rng):
    activation = ACTIVATIONS[name]
    z = rng.normal(scale=2.0, size=(20, 7))
    z[np.abs(z) < 1e-3] = 0.5  # keep away from ReLU's kink
    h = 1e-6
    numeric = (activation.fn(z + h) - activation.fn(z - h)) / (2 * h)
    np.testing.assert_allclose(activation.derivative(z, activation.fn(z)), numeric, atol=1e-8)


def test_sigmoid_is_stable_for_large_inputs():
    z = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        a = ACTIVATIONS["sigmoid"].fn(z)
    np.testing.assert_allclose(a, [0.0, 1.0 / (1.0 + np.exp(50.0)), 0.5, 1.0, 1.0], atol=1e-300)


def test_unknown_activation_names_the_choices():
    with pytest.raises(ValueError, match="relu, sigmoid, tanh"):
        get_activation("swish")
