"""Activation functions and their derivatives, as a table.

Each activation is a pair of functions working elementwise on whole arrays:

* ``fn(z, out=None)`` gives the activation a = σ(z);
* ``derivative(z, a, out=None)`` gives σ'(z). It receives both z and the already
  computed a = σ(z) because for sigmoid and tanh the derivative is cheapest from a.

With ``out`` they write into that array instead of allocating one (the training step
reuses its buffers).

``ACTIVATIONS`` maps the names accepted everywhere in nnreg (API and CLI) to them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SIGMOID_BY_EXP_FROM = 4096
"""Arrays of at least this many elements take sigmoid's NumPy-exp form (see ``sigmoid``)."""


def _expit(z, out=None):
    """SciPy's ``expit``, imported on first use (SciPy takes a third of a second to load,
    which ``nnreg --help`` should not pay); the name then refers to ``expit`` itself."""
    global _expit
    from scipy.special import expit

    _expit = expit
    return expit(z, out=out)


def sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """σ(z) = 1 / (1 + e^(−z)).

    Small arrays: SciPy's ``expit``, one ufunc call. Large ones (a mini-batch of
    hundreds, an evaluation block): the same formula as four NumPy ufuncs, whose
    vectorized ``exp`` makes it 3–4× faster there; the two agree to one rounding
    (a relative 1e-16 in float64). e^(−z) = inf for z < −709 gives 1/inf = 0, the limit.
    """
    if z.size < SIGMOID_BY_EXP_FROM:
        return _expit(z, out=out)
    out = np.negative(z, out=out)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


def sigmoid_derivative(z: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """σ'(z) = σ(z)·(1 − σ(z))."""
    out = np.subtract(1.0, a, out=out)
    out *= a
    return out


def tanh(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """tanh(z)."""
    return np.tanh(z, out=out)


def tanh_derivative(z: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """tanh'(z) = 1 − tanh²(z)."""
    out = np.multiply(a, a, out=out)
    return np.subtract(1.0, out, out=out)


def relu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """ReLU(z) = max(z, 0)."""
    return np.maximum(z, 0.0, out=out)


def relu_derivative(z: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """ReLU'(z) = 1 for z > 0, else 0 (0 at z = 0 by convention)."""
    if out is None:
        out = np.empty_like(z)
    return np.greater(z, 0.0, out=out)


@dataclass(frozen=True)
class Activation:
    """An activation function σ with its derivative σ'."""

    name: str
    fn: Callable[..., np.ndarray]
    derivative: Callable[..., np.ndarray]


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_derivative),
    "tanh": Activation("tanh", tanh, tanh_derivative),
    "relu": Activation("relu", relu, relu_derivative),
}


def get_activation(name: str) -> Activation:
    """Look an activation up by name; a clear ``ValueError`` for unknown names."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}: choose one of {', '.join(sorted(ACTIVATIONS))}"
        ) from None
