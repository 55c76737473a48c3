"""Costs: the data cost C₀ of one example, and the output-layer error δᴸ.

Notation of the book: z is the weighted input of the output layer, a = σ(z) its
activation, y the target. A cost object owns the output layer's activation, because
the pairing matters: cross-entropy goes with sigmoid outputs and log-likelihood with
softmax, and for both the output error simplifies to δᴸ = a − y.

Every method works on a whole mini-batch at once, one example per *row*:

* ``output(z, out=None)`` gives a for a batch of z, shape (m, k);
* ``fn(z, a, y)`` gives the cost of each example, shape (m,);
* ``delta(z, a, y, out=None)`` gives δᴸ = ∂C_x/∂z for each example, shape (m, k).

``out``, when given, is an array to write the result into.

The data cost of a set of n examples is the mean, C₀ = (1/n)·Σ_x C_x. Regularization
penalties are never part of a cost object: see :mod:`nnreg.regularizers`.
"""

from __future__ import annotations

import numpy as np

from nnreg.activations import Activation, get_activation


class QuadraticCost:
    """Quadratic cost C_x = ½·‖a − y‖², δᴸ = (a − y) ⊙ σ'(z).

    The output layer uses the network's own activation (sigmoid in the book).
    """

    name = "quadratic"

    def __init__(self, output_activation: Activation) -> None:
        self.output_activation = output_activation

    def output(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return self.output_activation.fn(z, out=out)

    def fn(self, z: np.ndarray, a: np.ndarray, y: np.ndarray) -> np.ndarray:
        return 0.5 * np.sum((a - y) ** 2, axis=1)

    def delta(self, z, a, y, out: np.ndarray | None = None) -> np.ndarray:
        out = np.subtract(a, y, out=out)
        out *= self.output_activation.derivative(z, a)
        return out


class CrossEntropyCost:
    """Cross-entropy on sigmoid outputs, C_x = −Σⱼ [yⱼ ln aⱼ + (1 − yⱼ) ln(1 − aⱼ)], δᴸ = a − y.

    The value is computed from z as Σⱼ [softplus(zⱼ) − yⱼ·zⱼ], the same quantity without
    the log(0) that the book guards against with ``nan_to_num``.
    """

    name = "cross-entropy"

    def __init__(self, output_activation: Activation | None = None) -> None:
        self.output_activation = get_activation("sigmoid")

    def output(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return self.output_activation.fn(z, out=out)

    def fn(self, z: np.ndarray, a: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.sum(np.logaddexp(0.0, z) - y * z, axis=1)

    def delta(self, z, a, y, out: np.ndarray | None = None) -> np.ndarray:
        return np.subtract(a, y, out=out)


def softmax(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """softmax(z)ⱼ = e^(zⱼ) / Σₖ e^(zₖ), row by row, shifted by the row maximum for stability."""
    out = np.subtract(z, z.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


class LogLikelihoodCost:
    """Softmax outputs with log-likelihood, C_x = −ln a_y = −Σⱼ yⱼ ln aⱼ, δᴸ = a − y.

    The value is computed from z as logsumexp(z) − Σⱼ yⱼ·zⱼ (y one-hot, or any
    distribution summing to 1).
    """

    name = "log-likelihood"

    def __init__(self, output_activation: Activation | None = None) -> None:
        self.output_activation = None

    def output(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return softmax(z, out=out)

    def fn(self, z: np.ndarray, a: np.ndarray, y: np.ndarray) -> np.ndarray:
        top = z.max(axis=1, keepdims=True)
        log_sum = np.log(np.sum(np.exp(z - top), axis=1)) + top[:, 0]
        return log_sum - np.sum(y * z, axis=1)

    def delta(self, z, a, y, out: np.ndarray | None = None) -> np.ndarray:
        return np.subtract(a, y, out=out)


COSTS = {
    "quadratic": QuadraticCost,
    "cross-entropy": CrossEntropyCost,
    "log-likelihood": LogLikelihoodCost,
}


def make_cost(name: str, hidden_activation: Activation):
    """Build the cost called ``name``; quadratic cost reuses ``hidden_activation`` at the output."""
    try:
        cost_class = COSTS[name]
    except KeyError:
        raise ValueError(f"unknown cost {name!r}: choose one of {', '.join(COSTS)}") from None
    return cost_class(hidden_activation)
