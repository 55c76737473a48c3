"""A labelled data set as the engine wants it: one example per row."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import numpy as np

from nnreg import kernels
from nnreg.validation import check_finite_array


@dataclass(frozen=True)
class Dataset:
    """Inputs X, shape (n, n_in); targets Y, shape (n, n_out); labels, shape (n,).

    ``labels`` are the class indices used for accuracy (the argmax of one-hot targets).
    ``inputs`` are either floats, or integer codes with ``input_divisor``: the network then
    sees inputs / input_divisor, converted a mini-batch or a block at a time. Images keep
    their bytes this way (MNIST: 0–255 and divisor 255), eight times less memory than
    float64, and a mini-batch gathers eight times fewer bytes.
    """

    inputs: np.ndarray
    targets: np.ndarray
    labels: np.ndarray
    input_divisor: float = 1.0

    def __len__(self) -> int:
        return self.inputs.shape[0]

    @property
    def coded(self) -> bool:
        """Whether ``inputs`` hold integer codes to be divided by ``input_divisor``."""
        return self.inputs.dtype.kind in "ui"

    def astype(self, dtype: np.dtype) -> Dataset:
        """The same data with float inputs and targets in ``dtype`` (no copy when already so);
        coded inputs stay coded."""
        inputs = self.inputs if self.coded else self.inputs.astype(dtype, copy=False)
        return Dataset(
            inputs, self.targets.astype(dtype, copy=False), self.labels, self.input_divisor
        )

    def input_rows(
        self, start: int, stop: int, dtype: np.dtype = np.float64, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Rows start…stop−1 of the inputs as the network sees them, in ``dtype``: a view
        when they are floats of that dtype already, else converted (into ``out`` when
        given, an array of at least stop − start rows, so repeated calls allocate nothing)."""
        rows = self.inputs[start:stop]
        if not self.coded and rows.dtype == dtype:
            return rows
        if out is not None:
            out = out[: stop - start]
        return to_float(rows, self.input_divisor, dtype, out=out)

    def float_inputs(self, dtype: np.dtype = np.float64) -> np.ndarray:
        """All inputs as the network sees them, in ``dtype`` (a copy when coded)."""
        return self.input_rows(0, len(self), dtype)

    def head(self, count: int) -> Dataset:
        """The first ``count`` examples."""
        return Dataset(
            self.inputs[:count], self.targets[:count], self.labels[:count], self.input_divisor
        )


def to_float(
    inputs: np.ndarray, divisor: float, dtype: np.dtype, out: np.ndarray | None = None
) -> np.ndarray:
    """inputs / divisor in ``dtype`` for integer codes; float inputs as they are (cast)."""
    if inputs.dtype.kind not in "ui":
        if out is None:
            return inputs.astype(dtype, copy=False)
        np.copyto(out, inputs)
        return out
    if out is None:
        out = np.empty(inputs.shape, dtype)
    exact = division_in_dtype_is_exact(inputs.dtype, float(divisor), np.dtype(dtype))
    # in dtype where that is exact (3× faster for float32), else in float64 then rounded
    typed_divisor = (out.dtype.type if exact else np.float64)(divisor)
    if inputs.ndim == 2 and inputs.flags.c_contiguous:
        # one compiled pass when the kernels are loaded, the same numbers (see BatchGatherer)
        if kernels.gather_divided(inputs, np.arange(len(inputs)), typed_divisor, out):
            return out
    return np.divide(inputs, typed_divisor, out=out)


@functools.lru_cache(maxsize=64)
def division_in_dtype_is_exact(codes: np.dtype, divisor: float, dtype: np.dtype) -> bool:
    """Whether code / divisor computed in ``dtype`` equals code / divisor computed in float64
    and rounded to ``dtype``, for every code (the reference conversion).

    Always so in float64. In a narrower type, checked on every value of 8- and 16-bit
    codes (for MNIST's bytes and 255 it holds); wider codes take the reference path.
    """
    if dtype == np.float64:
        return True
    if codes.itemsize > 2 or dtype.kind != "f":
        return False
    info = np.iinfo(codes)
    every_code = np.arange(info.min, info.max + 1).astype(codes)
    reference = np.divide(every_code, divisor).astype(dtype)
    fast = every_code.astype(dtype) / dtype.type(divisor)
    return bool(np.array_equal(reference, fast))


def make_dataset(
    inputs, outputs, num_outputs: int, name: str = "data", input_divisor: float = 1.0
) -> Dataset:
    """Check and pack examples.

    ``outputs`` are either class labels (integers in [0, num_outputs), shape (n,)), turned
    into one-hot targets, or target vectors of shape (n, num_outputs). With an
    ``input_divisor`` other than 1, ``inputs`` must be integer codes and are kept as they
    are (see :class:`Dataset`).
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
    if input_divisor != 1.0 and inputs.dtype.kind not in "ui":
        raise ValueError(f"{name}: input_divisor needs integer inputs, got dtype {inputs.dtype}")
    if inputs.dtype.kind not in "ui":
        check_finite_array(f"{name} inputs", inputs)
        inputs = inputs.astype(np.float64, copy=False)
    elif input_divisor == 1.0:
        inputs = inputs.astype(np.float64)
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
    return Dataset(inputs, targets, labels, float(input_divisor))


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


def data_checksums(datasets: dict[str, Dataset]) -> dict[str, str]:
    """The SHA-256 of each split (inputs as stored, their divisor, targets and labels, with
    dtypes and shapes): equal exactly when the network would see the same data."""
    checksums = {}
    for name, data in datasets.items():
        digest = hashlib.sha256()
        for array in (data.inputs, data.targets, data.labels):
            array = np.ascontiguousarray(array)
            digest.update(f"{array.dtype.str}{array.shape};".encode())
            digest.update(memoryview(array).cast("B"))
        digest.update(repr(float(data.input_divisor)).encode())
        checksums[name] = digest.hexdigest()
    return checksums


def image_shape(inputs: int) -> tuple[int, int]:
    """The picture a unit's input weights make: square when the inputs are (28×28 for
    MNIST, 8×8 for the digits), else one row."""
    side = int(round(inputs**0.5))
    return (side, side) if side * side == inputs else (1, inputs)
