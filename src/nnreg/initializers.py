"""Weight initializers: functions of (layer sizes, random generator, dtype).

Both are the book's, and both draw from the ``numpy.random.Generator`` they are given,
never from NumPy's global state, so a seed fixes the initial network bit for bit.
Weights of layer l have shape (n_out, n_in) as in the book; biases have shape (n_out,).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Initializer = Callable[
    [Sequence[int], np.random.Generator, np.dtype], tuple[list[np.ndarray], list[np.ndarray]]
]


def default_initializer(sizes, rng, dtype):
    """Weights ~ N(0, 1/n_in), biases ~ N(0, 1): the book's ``default_weight_initializer``.

    Scaling by 1/√n_in keeps the weighted input z of a fresh unit near unit variance, so
    sigmoid units do not start saturated.
    """
    weights = [
        (rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(dtype)
        for n_in, n_out in zip(sizes[:-1], sizes[1:])
    ]
    biases = [rng.standard_normal(n_out).astype(dtype) for n_out in sizes[1:]]
    return weights, biases


def large_initializer(sizes, rng, dtype):
    """Weights ~ N(0, 1), biases ~ N(0, 1): the book's ``large_weight_initializer`` (chapter 1)."""
    weights = [
        rng.standard_normal((n_out, n_in)).astype(dtype)
        for n_in, n_out in zip(sizes[:-1], sizes[1:])
    ]
    biases = [rng.standard_normal(n_out).astype(dtype) for n_out in sizes[1:]]
    return weights, biases


INITIALIZERS: dict[str, Initializer] = {
    "default": default_initializer,
    "large": large_initializer,
}
