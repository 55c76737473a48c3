"""Mini-batches in the learner's own layout.

The probes make their examples as two arrays — inputs X (m × n_in) and one-hot targets Y
(m × n_out) — and hand them to the learner's code the way it takes them:

* ``pairs``: a list of (x, y) column vectors, the book's ``mini_batch``;
* ``flat-pairs``: a list of (x, y) flat vectors;
* ``label-pairs``: a list of (x, label) with x a column vector;
* ``rows``: X and Y with one example per row (``X @ W``); ``row-labels``: Y as class indices;
* ``columns``: X and Y with one example per column (``W @ X``, Coursera's layout).

With one output unit, targets are the labels 0/1 themselves (an (m, 1) or (1, m) array).
The layout is found by trying each in turn on the learner's update (see
:mod:`~nnreg.doctor.find`); a recorded mini-batch (``nnreg doctor --run``) is resized in its
own layout instead: its *example axis* is the one whose length is the number of examples in
every array (never a class axis that happens to have the same length).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LAYOUTS = ("pairs", "flat-pairs", "label-pairs", "rows", "row-labels", "columns")
TWO_ARRAYS = ("rows", "row-labels", "columns")
"""Layouts whose examples are two arrays, X and Y (passed as one pair or as two arguments)."""


@dataclass(frozen=True)
class Examples:
    """m examples for a network of ``n_in`` inputs and ``n_out`` outputs: inputs in [0, 1],
    targets one-hot (one output unit: 0/1)."""

    inputs: np.ndarray
    targets: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        if self.targets.shape[1] == 1:
            return self.targets[:, 0].astype(int)
        return np.argmax(self.targets, axis=1)


def examples(m: int, n_in: int, n_out: int, rng: np.random.Generator) -> Examples:
    """m examples with every class present (when m allows), inputs uniform in [0, 1]."""
    inputs = rng.uniform(0, 1, size=(m, n_in))
    classes = max(n_out, 2)
    labels = np.arange(m) % classes
    targets = labels[:, None].astype(float) if n_out == 1 else np.eye(n_out)[labels]
    return Examples(inputs, targets)


def arranged(data: Examples, layout: str) -> Any:
    """The examples in ``layout``: a list of pairs, or a pair (X, Y)."""
    X, Y = data.inputs, data.targets
    if layout == "pairs":
        return [(x.reshape(-1, 1), y.reshape(-1, 1)) for x, y in zip(X, Y)]
    if layout == "flat-pairs":
        return [(x.copy(), y.copy()) for x, y in zip(X, Y)]
    if layout == "label-pairs":
        return [(x.reshape(-1, 1), int(label)) for x, label in zip(X, data.labels)]
    if layout == "rows":
        return (X.copy(), Y.copy())
    if layout == "row-labels":
        return (X.copy(), data.labels.copy())
    if layout == "columns":
        return (X.T.copy(), Y.T.copy())
    raise ValueError(f"unknown layout {layout!r}")


def layouts_to_try(rows_are_outputs: bool | None, separate: bool) -> list[str]:
    """Layouts in the order worth trying: for a network whose weights are stored (n_out,
    n_in) (``W @ x``) column layouts first, else row layouts first; with the examples taken
    as two arguments (``X, Y``), only the two-array layouts."""
    if rows_are_outputs is False:
        order = ["rows", "row-labels", "flat-pairs", "pairs", "label-pairs", "columns"]
    else:
        order = ["pairs", "columns", "label-pairs", "flat-pairs", "rows", "row-labels"]
    return [layout for layout in order if layout in TWO_ARRAYS] if separate else order


# -- a recorded mini-batch, resized -----------------------------------------------------------
def resized_batch(recorded: Any, m: int, rng: np.random.Generator | None = None) -> Any:
    """The recorded mini-batch with m examples (its own, cut or repeated in order), in its
    own layout: a list of examples, an array with one example per row or per column, or a
    pair (X, Y) of such arrays."""
    if isinstance(recorded, (list, tuple)) and _is_array_pair(recorded):
        axes = example_axes(recorded)
        return type(recorded)(_take(a, m, axis) for a, axis in zip(recorded, axes))
    if isinstance(recorded, np.ndarray):
        return _take(recorded, m, example_axes([recorded])[0])
    items = list(recorded)
    if not items:
        raise ValueError("the recorded mini-batch is empty: the doctor cannot replay it")
    return [items[i % len(items)] for i in range(m)]


def example_axes(arrays: Sequence[np.ndarray]) -> list[int]:
    """The axis along which each array lists the examples: the count of examples is the
    length every array shares along some axis; when several axes qualify (10 examples of
    10 classes), the inputs' — the first array's — decide, and the others follow it (rows
    with rows, columns with columns)."""
    lengths = [set(a.shape) for a in arrays]
    common = set.intersection(*lengths) if lengths else set()
    if not common:
        return [0] * len(arrays)
    first = arrays[0]
    shared = [axis for axis, length in enumerate(first.shape) if length in common]
    axis = shared[0] if len(shared) == 1 or first.ndim < 2 else _example_axis_of_inputs(first)
    count = first.shape[axis]
    chosen = [axis]
    for array in arrays[1:]:
        along = [a for a, length in enumerate(array.shape) if length == count]
        chosen.append(min(along, key=lambda a: abs(a - axis)) if along else 0)
    return chosen


def _example_axis_of_inputs(inputs: np.ndarray) -> int:
    """For a square input batch, rows: a batch of m examples of m features is rare, and the
    row layout the common one."""
    return 0


def _is_array_pair(value) -> bool:
    return len(value) == 2 and all(isinstance(a, np.ndarray) and a.ndim >= 1 for a in value)


def _take(array: np.ndarray, m: int, axis: int) -> np.ndarray:
    """Examples 0, 1, …, m − 1 (modulo the recorded count) of ``array`` along ``axis``."""
    count = array.shape[axis]
    return np.take(array, np.arange(m) % count, axis=axis)
