"""What is measured at the end of every epoch. Pluggable: a monitor is any object with
``measure(context) -> dict`` (and, optionally, ``begin_epoch(context)``, called before
the epoch's first step); the training loop merges the dicts into the epoch's record.
Monitors run once per epoch, never inside the steps, so they cost nothing on the hot path.

Costs are always reported split: the data cost C₀ = (1/N)·Σ_x C_x is the mean over the
evaluated set (N its size), while the penalty is always computed with n = the *training*
set size, whatever set is evaluated — the penalty is a property of the weights and of
the objective being trained, not of the evaluated data. (The book's ``network2.py``
divides by the evaluated set's size instead, which inflates the "regularized cost" of a
small evaluation set by n_training/n_evaluation.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from nnreg.datasets.dataset import Dataset
from nnreg.network import Network, Workspace
from nnreg.regularizers import Regularizer


@dataclass
class EpochContext:
    """What a monitor may look at, and the forward passes monitors share.

    :meth:`forward_block` keeps the block it computed last, so that two monitors asking
    for the same rows (the cost monitor's first training block and the gradient share's
    sample) pay for one forward pass. The training loop calls :meth:`new_measurement`
    before the monitors run, as the weights have changed since.
    """

    network: Network
    regularizer: Regularizer
    training_set_size: int
    datasets: dict[str, Dataset]
    _last: tuple | None = field(default=None, repr=False)
    _buffers: dict = field(default_factory=dict, repr=False)

    def new_measurement(self) -> None:
        """Forget the kept forward pass (the weights changed)."""
        self._last = None

    def forward_block(
        self, name: str, start: int, stop: int
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``network.forward`` of rows start…stop−1 of data set ``name``: (Zˡ, Aˡ) with A⁰
        the inputs as the network sees them. Integer-coded inputs are converted into one
        buffer reused from block to block, so the arrays returned are valid until the
        next call."""
        key = (name, start, stop)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        self._last = None
        data, network = self.datasets[name], self.network
        buffer = None
        if data.coded:
            width = data.inputs.shape[1]
            buffer = self._buffers.get((network.dtype, width))
            if buffer is None or len(buffer) < stop - start:
                buffer = self._buffers[(network.dtype, width)] = np.empty(
                    (stop - start, width), network.dtype
                )
        result = network.forward(data.input_rows(start, stop, network.dtype, out=buffer))
        self._last = (key, result)
        return result


class Monitor(Protocol):
    """Measures something at the end of every epoch.

    Optional hooks: ``begin_epoch(context)`` takes a snapshot at the start of an epoch;
    ``epoch_state()`` returns that snapshot as named arrays and ``restore_epoch_state(arrays)``
    takes it back, so a checkpoint written part-way through an epoch keeps it and the
    resumed epoch measures as if it had not been broken.
    """

    def measure(self, context: EpochContext) -> dict[str, Any]: ...


class CostMonitor:
    """For every data set: ``data_cost``, ``penalty``, ``total_cost`` and ``accuracy``;
    with an activity regularizer also ``activity_penalty`` (it depends on the data, so it
    is measured on each set; ``total_cost`` includes it)."""

    def measure(self, context: EpochContext) -> dict[str, Any]:
        network = context.network
        penalty = context.regularizer.penalty(
            network.weights, network.biases, context.training_set_size
        )
        activity = context.regularizer if context.regularizer.acts_on_activations else None
        # The training set goes last, its first block at the very end: that block is the
        # gradient share's sample, which then needs no forward pass of its own.
        names = sorted(context.datasets, key=lambda name: name == "training")
        measured = {name: _cost_and_accuracy(context, name, activity) for name in names}
        results = {}
        for name in context.datasets:
            data_cost, accuracy, activity_penalty = measured[name]
            results[name] = {
                "data_cost": data_cost,
                "penalty": penalty,
                "total_cost": data_cost + penalty + activity_penalty,
                "accuracy": accuracy,
            }
            if activity_penalty:
                results[name]["activity_penalty"] = activity_penalty
        return results


BLOCK = 10_000
"""Examples evaluated at once: bounds the memory of a whole-set evaluation."""


def _cost_and_accuracy(
    context: EpochContext, name: str, activity: Regularizer | None = None
) -> tuple[float, float, float]:
    """Mean data cost, accuracy and activity penalty (0 without ``activity``) over data
    set ``name``, evaluated in blocks of rows: the first block last, the sums taken in
    row order whatever the order of evaluation (the same numbers)."""
    network, data = context.network, context.datasets[name]
    starts = list(range(0, len(data), BLOCK))
    blocks = {}
    for start in [*starts[1:], starts[0]]:
        stop = min(start + BLOCK, len(data))
        weighted_inputs, activations = context.forward_block(name, start, stop)
        outputs = activations[-1]
        blocks[start] = (
            float(network.cost.fn(weighted_inputs[-1], outputs, data.targets[start:stop]).sum()),
            int(np.sum(np.argmax(outputs, axis=1) == data.labels[start:stop])),
            activity.activation_penalty(activations[1:-1]) * (stop - start)
            if activity is not None
            else 0.0,
        )
    total_cost, correct, total_activity = 0.0, 0, 0.0
    for start in starts:
        cost, right, activity_part = blocks[start]
        total_cost += cost
        correct += right
        total_activity += activity_part
    return total_cost / len(data), correct / len(data), total_activity / len(data)


def weight_statistics(w: np.ndarray, small: float) -> dict[str, float]:
    """Norms and sparsity of one weight array: ``l1_norm`` Σ|w|, ``l2_norm`` √Σw², ``rms``
    √(Σw²/N), ``max_abs``, ``mean``, ``fraction_zero`` (w == 0 exactly) and
    ``fraction_small`` (|w| < ``small``)."""
    magnitudes = np.abs(w)
    sum_of_squares = float(np.vdot(w, w))
    return {
        "l1_norm": float(magnitudes.sum()),
        "l2_norm": math.sqrt(sum_of_squares),
        "rms": math.sqrt(sum_of_squares / w.size),
        "max_abs": float(magnitudes.max()),
        "mean": float(w.mean()),
        "fraction_zero": float(1.0 - np.count_nonzero(w) / w.size),
        "fraction_small": float(np.count_nonzero(magnitudes < small) / w.size),
    }


class WeightMonitor:
    """Per layer and for the whole network: norms, RMS, max |w|, mean, sparsity and sign flips.

    ``weights.layers[l]`` holds :func:`weight_statistics` of Wˡ, ``reference_rms`` = 1/√n_in
    (the RMS of the default initializer N(0, 1/n_in)) and ``sign_flips``: how many weights
    are positive at the end of the epoch and were negative at its start, or the reverse
    (subgradient L1 makes weights near zero oscillate; a weight that flips an even number
    of times within the epoch is not counted). ``weights`` itself holds the same for all
    weights together, with ``reference_rms`` = 1/√N, N the total number of weights — the
    scale the book says L2 decay tails off near. Biases are not included.
    """

    def __init__(self, small: float = 1e-3) -> None:
        self.small = small
        self.signs_at_start: list[np.ndarray] | None = None

    def begin_epoch(self, context: EpochContext) -> None:
        self.signs_at_start = [np.sign(w).astype(np.int8) for w in context.network.weights]

    def epoch_state(self) -> dict[str, np.ndarray]:
        """The signs at the start of the epoch, for a checkpoint written part-way through it."""
        if self.signs_at_start is None:
            return {}
        return {f"signs_at_start_{layer}": s for layer, s in enumerate(self.signs_at_start)}

    def restore_epoch_state(self, arrays: dict[str, np.ndarray]) -> None:
        if arrays:
            self.signs_at_start = [
                np.asarray(arrays[f"signs_at_start_{layer}"], dtype=np.int8)
                for layer in range(len(arrays))
            ]

    def measure(self, context: EpochContext) -> dict[str, Any]:
        weights = context.network.weights
        layers = []
        for layer, w in enumerate(weights):
            stats = weight_statistics(w, self.small)
            stats["reference_rms"] = 1.0 / math.sqrt(w.shape[1])
            stats["sign_flips"] = self._sign_flips(layer, w)
            layers.append(stats)
        everything = np.concatenate([w.ravel() for w in weights])
        total = weight_statistics(everything, self.small)
        total["reference_rms"] = 1.0 / math.sqrt(everything.size)
        total["sign_flips"] = (
            None
            if layers[0]["sign_flips"] is None
            else sum(stats["sign_flips"] for stats in layers)
        )
        return {
            "weights": {
                **total,
                "count": int(everything.size),
                "small": self.small,
                "layers": layers,
            }
        }

    def _sign_flips(self, layer: int, w: np.ndarray) -> int | None:
        if self.signs_at_start is None:
            return None
        return int(np.count_nonzero(self.signs_at_start[layer] * np.sign(w) < 0))


class GradientShareMonitor:
    """Who moves the weights: per layer, ‖∂penalty/∂Wˡ‖ against ‖∂C₀/∂Wˡ‖.

    The data gradient is that of the mean cost over the first ``sample_size`` training
    examples (all of them when fewer), taken at the end-of-epoch weights; the penalty
    gradient is the regularizer's (sub)gradient with n = the training-set size (for L1
    (λ/n)·sgn(w), what the proximal and cumulative methods apply as a shrink). Both enter
    an SGD step multiplied by η, so ``ratio`` > 1 means the penalty pulls harder than the
    data. Recorded as ``gradient_share = [{penalty_gradient_norm, data_gradient_norm,
    ratio}, …]`` per weight layer.
    """

    def __init__(self, sample_size: int = 10_000) -> None:
        self.sample_size = sample_size
        self.workspace: Workspace | None = None

    def measure(self, context: EpochContext) -> dict[str, Any]:
        network = context.network
        training = context.datasets["training"]
        rows = min(self.sample_size, len(training))
        # the cost monitor's first training block when it is this sample (by default)
        weighted_inputs, activations = context.forward_block("training", 0, rows)
        workspace = self.workspace
        if (
            workspace is None
            or workspace.batch_size != rows
            or workspace.ones.dtype != network.dtype
        ):
            workspace = self.workspace = Workspace(network, rows)
        network.backprop_after_forward(
            weighted_inputs, activations, training.targets[:rows], workspace
        )
        data_gradients, _ = network.gradients_from(workspace)
        penalty_gradients, _ = context.regularizer.penalty_gradient(
            network.weights, network.biases, context.training_set_size
        )
        shares = []
        for data_gradient, penalty_gradient in zip(data_gradients, penalty_gradients):
            data_norm = float(np.linalg.norm(data_gradient))
            penalty_norm = float(np.linalg.norm(penalty_gradient))
            shares.append(
                {
                    "penalty_gradient_norm": penalty_norm,
                    "data_gradient_norm": data_norm,
                    "ratio": penalty_norm / data_norm if data_norm > 0 else None,
                }
            )
        return {"gradient_share": shares}


def default_monitors() -> list[Monitor]:
    """The monitors every run gets unless told otherwise."""
    return [CostMonitor(), WeightMonitor(), GradientShareMonitor()]
