import numpy as np
import pytest

from nnreg.activations import ACTIVATIONS
from nnreg.costs import COSTS, make_cost, softmax

CASES = [("quadratic", name) for name in sorted(ACTIVATIONS)] + [
    ("cross-entropy", "sigmoid"),
    ("log-likelihood", "sigmoid"),
]


def one_hot(labels, k):
    return np.eye(k)[labels]


@pytest.mark.parametrize("cost_name, hidden", CASES)
def test_delta_is_the_derivative_of_the_cost_in_z(cost_name, hidden, rng):
    cost = make_cost(cost_name, ACTIVATIONS[hidden])
    z = rng.normal(size=(6, 4))
    z[np.abs(z) < 1e-3] = 0.3
    y = one_hot(rng.integers(0, 4, size=6), 4)
    h = 1e-6
    numeric = np.zeros_like(z)
    for i in np.ndindex(z.shape):
        up, down = z.copy(), z.copy()
        up[i] += h
        down[i] -= h
        numeric[i] = (
            cost.fn(up, cost.output(up), y)[i[0]] - cost.fn(down, cost.output(down), y)[i[0]]
        ) / (2 * h)
    np.testing.assert_allclose(cost.delta(z, cost.output(z), y), numeric, atol=1e-7)


def test_cross_entropy_equals_the_books_formula(rng):
    z = rng.normal(size=(5, 3))
    y = rng.uniform(size=(5, 3))
    a = 1 / (1 + np.exp(-z))
    book = -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a), axis=1)
    np.testing.assert_allclose(COSTS["cross-entropy"]().fn(z, a, y), book, rtol=1e-12)


def test_log_likelihood_is_minus_log_of_the_true_class(rng):
    z = rng.normal(size=(5, 4))
    labels = rng.integers(0, 4, size=5)
    a = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    expected = -np.log(a[np.arange(5), labels])
    cost = COSTS["log-likelihood"]()
    np.testing.assert_allclose(cost.fn(z, softmax(z), one_hot(labels, 4)), expected, rtol=1e-12)


def test_costs_stay_finite_for_saturated_outputs():
    z = np.array([[800.0, -800.0]])
    y = np.array([[0.0, 1.0]])
    for cost in (COSTS["cross-entropy"](), COSTS["log-likelihood"]()):
        assert np.isfinite(cost.fn(z, cost.output(z), y)).all()
        np.testing.assert_allclose(cost.fn(z, cost.output(z), y), [1600.0])


def test_quadratic_cost_is_half_squared_distance():
    cost = COSTS["quadratic"](ACTIVATIONS["sigmoid"])
    a = np.array([[0.2, 0.9]])
    np.testing.assert_allclose(cost.fn(None, a, np.array([[0.0, 1.0]])), [0.5 * (0.04 + 0.01)])


def test_unknown_cost_names_the_choices():
    with pytest.raises(ValueError, match="cross-entropy"):
        make_cost("hinge", ACTIVATIONS["sigmoid"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["cross-entropy", "log-likelihood", "quadratic"])
def test_outputs_costs_and_deltas_are_finite_without_warnings_for_extreme_z(name, dtype):
    cost = make_cost(name, ACTIVATIONS["sigmoid"])
    z = np.array([[-1e4, 0.0, 1e4], [1e3, -1e3, 1.0], [-80.0, 80.0, 0.0]], dtype=dtype)
    y = np.eye(3, dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        a = cost.output(z)
        values = cost.fn(z, a, y)
        delta = cost.delta(z, a, y)
    for array in (a, values, delta):
        assert np.all(np.isfinite(array))
    assert a.dtype == dtype
