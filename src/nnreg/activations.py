"""Activation functions and their derivatives, as a table.

Each activation is a pair of functions working elementwise on whole arrays:

* ``fn(z)`` gives the activation a = σ(z);
* ``derivative(z, a)`` gives σ'(z). It receives both z and the already computed
  a = σ(z) because for sigmoid and tanh the derivative is cheapest from a.

``ACTIVATIONS`` maps the names accepted everywhere in nnreg (API and CLI) to them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit


def sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) = 1 / (1 + e^(−z)), one ufunc call, without overflow for large |z|."""
    return expit(z)


def sigmoid_derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """σ'(z) = σ(z)·(1 − σ(z))."""
    return a * (1.0 - a)


def tanh(z: np.ndarray) -> np.ndarray:
    """tanh(z)."""
    return np.tanh(z)


def tanh_derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """tanh'(z) = 1 − tanh²(z)."""
    return 1.0 - a * a


def relu(z: np.ndarray) -> np.ndarray:
    """ReLU(z) = max(z, 0)."""
    return np.maximum(z, 0.0)


def relu_derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """ReLU'(z) = 1 for z > 0, else 0 (0 at z = 0 by convention)."""
    return (z > 0).astype(z.dtype)


@dataclass(frozen=True)
class Activation:
    """An activation function σ with its derivative σ'."""

    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]


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
