"""What the experiments share: their data, training one configuration, number formats."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnreg.datasets import Dataset, load_digits
from nnreg.datasets.mnist import load_mnist
from nnreg.network import Network
from nnreg.optimizers import SGD
from nnreg.regularizers import Regularizer, make_regularizer
from nnreg.training import Callback, History, train

ProgressFactory = Callable[[str], Callback]
"""Given a run's label, a callback that shows its progress (the CLI's progress bar)."""


@dataclass
class ExperimentData:
    datasets: dict[str, Dataset]
    description: str

    @property
    def num_inputs(self) -> int:
        return self.datasets["training"].inputs.shape[1]


def experiment_data(quick: bool, data_dir: str | Path | None) -> ExperimentData:
    """MNIST (50,000 / 10,000 / 10,000) for the full runs; the 8×8 digits for ``quick``."""
    if quick:
        return ExperimentData(load_digits(), "scikit-learn's 8×8 digits (quick run)")
    return ExperimentData(load_mnist(data_dir), "MNIST")


@dataclass
class TrainedRun:
    """One trained configuration: its settings, history and weights before and after."""

    label: str
    settings: dict[str, Any]
    history: History
    initial_weights: list[np.ndarray]
    final_weights: list[np.ndarray]
    seconds: float

    def series(self, *path: str | int) -> list[float]:
        return self.history.series(*path)

    def best(self, data_set: str) -> tuple[float, int]:
        """Best accuracy on ``data_set`` and the epoch it was reached (the first, if tied)."""
        accuracies = self.series(data_set, "accuracy")
        epoch = int(np.argmax(accuracies))
        return accuracies[epoch], epoch + 1

    def last(self, data_set: str) -> float:
        return self.history.last[data_set]["accuracy"]


def train_configuration(
    label: str,
    training: Dataset,
    evaluation: dict[str, Dataset],
    *,
    sizes: Sequence[int],
    epochs: int,
    reg: str = "none",
    lmbda: float = 0.0,
    eta: float = 0.5,
    batch_size: int = 10,
    initializer: str = "default",
    seed: int = 0,
    progress: ProgressFactory | None = None,
    regularizer: Regularizer | None = None,
    **regularizer_options: Any,
) -> TrainedRun:
    """Train one network as the book does (sigmoid, cross-entropy, plain SGD) and record it;
    ``regularizer``, when given, replaces the one named by ``reg`` and ``lmbda``."""
    rng = np.random.default_rng(seed)
    network = Network(sizes, "sigmoid", "cross-entropy", initializer, rng)
    initial_weights = [w.copy() for w in network.weights]
    started = time.perf_counter()
    history = train(
        network,
        training,
        epochs=epochs,
        batch_size=batch_size,
        optimizer=SGD(eta),
        regularizer=regularizer or make_regularizer(reg, lmbda, **regularizer_options),
        evaluation_data=evaluation,
        rng=rng,
        callbacks=[progress(label)] if progress else [],
    )
    settings = {
        "sizes": list(sizes),
        "epochs": epochs,
        **({"reg": reg, "lmbda": lmbda} if regularizer is None else {"reg": regularizer.config()}),
        "eta": eta,
        "batch_size": batch_size,
        "initializer": initializer,
        "seed": seed,
        "training_examples": len(training),
        **regularizer_options,
    }
    return TrainedRun(
        label,
        settings,
        history,
        initial_weights,
        [w.copy() for w in network.weights],
        time.perf_counter() - started,
    )


def rms(weights: Sequence[np.ndarray]) -> float:
    """Root mean square of all the given weights together."""
    total = sum(float(np.vdot(w, w)) for w in weights)
    return math.sqrt(total / sum(w.size for w in weights))


def percent(value: float) -> str:
    return f"{100 * value:.2f}%"


def settings_text(runs: Sequence[TrainedRun], data: ExperimentData) -> str:
    """A paragraph per run with every setting, so the run can be repeated."""
    lines = [f"Data: {data.description}. Sigmoid hidden units, cross-entropy cost, plain SGD."]
    for run in runs:
        described = ", ".join(f"{key}={value}" for key, value in run.settings.items())
        lines.append(f"{run.label}: {described}; {run.seconds:.0f} s.")
    return "\n\n".join(lines)
