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
from scipy.special import expit


def sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """σ(z) = 1 / (1 + e^(−z)), one ufunc call, without overflow for large |z|."""
    return expit(z, out=out)


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
