"""What is measured at the end of every epoch. Pluggable: a monitor is any object with
``measure(context) -> dict``, and the training loop merges the dicts into the epoch's record.

Costs are always reported split: the data cost C₀ = (1/N)·Σ_x C_x is the mean over the
evaluated set (N its size), while the penalty is always computed with n = the *training*
set size, whatever set is evaluated — the penalty is a property of the weights and of
the objective being trained, not of the evaluated data. (The book's ``network2.py``
divides by the evaluated set's size instead, which inflates the "regularized cost" of a
small evaluation set by n_training/n_evaluation.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from nnreg.datasets.dataset import Dataset
from nnreg.network import Network
from nnreg.regularizers import Regularizer


@dataclass
class EpochContext:
    """What a monitor may look at."""

    network: Network
    regularizer: Regularizer
    training_set_size: int
    datasets: dict[str, Dataset]


class Monitor(Protocol):
    def measure(self, context: EpochContext) -> dict[str, Any]: ...


class CostMonitor:
    """For every data set: ``data_cost``, ``penalty``, ``total_cost`` and ``accuracy``."""

    def measure(self, context: EpochContext) -> dict[str, Any]:
        network = context.network
        penalty = context.regularizer.penalty(
            network.weights, network.biases, context.training_set_size
        )
        results = {}
        for name, data in context.datasets.items():
            data_cost, accuracy = _cost_and_accuracy(network, data)
            results[name] = {
                "data_cost": data_cost,
                "penalty": penalty,
                "total_cost": data_cost + penalty,
                "accuracy": accuracy,
            }
        return results


BLOCK = 10_000
"""Examples evaluated at once: bounds the memory of a whole-set evaluation."""


def _cost_and_accuracy(network: Network, data: Dataset) -> tuple[float, float]:
    """Mean data cost and accuracy over ``data``, evaluated in blocks of rows."""
    total_cost, correct = 0.0, 0
    for start in range(0, len(data), BLOCK):
        stop = min(start + BLOCK, len(data))
        weighted_inputs, activations = network.forward(data.input_rows(start, stop, network.dtype))
        outputs = activations[-1]
        total_cost += float(
            network.cost.fn(weighted_inputs[-1], outputs, data.targets[start:stop]).sum()
        )
        correct += int(np.sum(np.argmax(outputs, axis=1) == data.labels[start:stop]))
    return total_cost / len(data), correct / len(data)


class WeightMonitor:
    """Per layer and for the whole network: fraction of weights exactly zero and the L2 norm."""

    def measure(self, context: EpochContext) -> dict[str, Any]:
        weights = context.network.weights
        layers = [
            {
                "fraction_zero": float(1.0 - np.count_nonzero(w) / w.size),
                "l2_norm": float(np.sqrt(np.vdot(w, w))),
            }
            for w in weights
        ]
        zeros = sum(w.size - np.count_nonzero(w) for w in weights)
        total = sum(w.size for w in weights)
        return {"weights": {"fraction_zero": float(zeros / total), "layers": layers}}


def default_monitors() -> list[Monitor]:
    """The monitors every run gets unless told otherwise."""
    return [CostMonitor(), WeightMonitor()]
