"""A labelled data set as the engine wants it: one example per row."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnreg.validation import check_finite_array


@dataclass(frozen=True)
class Dataset:
    """Inputs X, shape (n, n_in); targets Y, shape (n, n_out); labels, shape (n,).

    ``labels`` are the class indices used for accuracy (the argmax of one-hot targets).
    """

    inputs: np.ndarray
    targets: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def astype(self, dtype: np.dtype) -> Dataset:
        """The same data with inputs and targets in ``dtype`` (no copy when already so)."""
        return Dataset(
            self.inputs.astype(dtype, copy=False),
            self.targets.astype(dtype, copy=False),
            self.labels,
        )


def make_dataset(inputs, outputs, num_outputs: int, name: str = "data") -> Dataset:
    """Check and pack examples.

    ``outputs`` are either class labels (integers in [0, num_outputs), shape (n,)), turned
    into one-hot targets, or target vectors of shape (n, num_outputs).
    """
    inputs = np.asarray(inputs)
    outputs = np.asarray(outputs)
    if inputs.ndim != 2:
        raise ValueError(
            f"{name}: inputs must be a 2-D array with one example per row, got shape "
            f"{inputs.shape}; reshape images with X.reshape(len(X), -1)"
        )
    if len(outputs) != len(inputs):
        raise ValueError(
            f"{name}: {len(inputs)} inputs but {len(outputs)} labels/targets: give one per example"
        )
    if len(inputs) == 0:
        raise ValueError(f"{name} is empty: give at least one example")
    if not np.issubdtype(inputs.dtype, np.number) or np.issubdtype(
        inputs.dtype, np.complexfloating
    ):
        raise ValueError(f"{name}: inputs must be real numbers, got dtype {inputs.dtype}")
    check_finite_array(f"{name} inputs", inputs)
    if outputs.ndim == 1:
        labels = _check_labels(outputs, num_outputs, name)
        targets = np.zeros((len(labels), num_outputs))
        targets[np.arange(len(labels)), labels] = 1.0
    elif outputs.ndim == 2 and outputs.shape[1] == num_outputs:
        check_finite_array(f"{name} targets", outputs)
        targets = outputs.astype(np.float64, copy=False)
        labels = np.argmax(targets, axis=1)
    else:
        raise ValueError(
            f"{name}: targets must be labels of shape (n,) or vectors of shape (n, {num_outputs}) "
            f"to match the {num_outputs} output units, got shape {outputs.shape}"
        )
    return Dataset(inputs.astype(np.float64, copy=False), targets, labels)


def _check_labels(labels: np.ndarray, num_outputs: int, name: str) -> np.ndarray:
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or not np.all(labels == np.round(labels)):
            raise ValueError(f"{name}: labels must be whole numbers (class indices)")
        labels = labels.astype(np.int64)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{name}: labels must be integer class indices, got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= num_outputs:
        raise ValueError(
            f"{name}: labels run from {labels.min()} to {labels.max()} but the network has "
            f"{num_outputs} output units: make the last layer size at least {labels.max() + 1}"
        )
    return labels.astype(np.int64, copy=False)
