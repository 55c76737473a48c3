"""Early stopping and η halving on a validation plateau (the book's chapter-3 suggestions),
as one training callback whose state can be rebuilt from a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nnreg.checkpoints import load_parameters, save_parameters
from nnreg.network import Network
from nnreg.optimizers import Optimizer
from nnreg.training import Callback, History

BEST_PARAMETERS = "best_parameters.npz"
SMALLEST_FRACTION = 1 / 128
"""Halving stops training once η falls below η₀/128, as the book suggests."""


class PlateauWatcher(Callback):
    """Watches the validation accuracy after every epoch.

    * ``early_stopping_n``: stop after that many epochs without a new best; the best
      parameters are restored into the network when training ends (and kept in
      ``folder/best_parameters.npz`` as they are found).
    * ``halve_after_n``: halve η after that many epochs without a new best (counting again
      after each halving); stop once η < η₀/128.
    """

    def __init__(
        self,
        optimizer: Optimizer | None,
        early_stopping_n: int | None = None,
        halve_after_n: int | None = None,
        folder: Path | None = None,
        data_set: str = "validation",
    ) -> None:
        self.optimizer = optimizer
        self.early_stopping_n = early_stopping_n
        self.halve_after_n = halve_after_n
        self.folder = None if folder is None else Path(folder)
        self.data_set = data_set
        if optimizer is None and halve_after_n:
            raise ValueError("halving η needs the optimizer whose learning rate it halves")
        self.initial_learning_rate = None if optimizer is None else optimizer.learning_rate
        self.best_accuracy = -np.inf
        self.best_epoch = 0
        self.last_halving_epoch = 0
        self.best_parameters: tuple[list, list] | None = None
        self.stop_training = False
        self.reason: str | None = None

    def restore(self, records: list[dict[str, Any]], extra: dict[str, Any], network) -> None:
        """Continue from a checkpoint: the best epoch from the records, the rest from ``extra``."""
        for record in records:
            accuracy = record[self.data_set]["accuracy"]
            if accuracy > self.best_accuracy:
                self.best_accuracy, self.best_epoch = accuracy, record["epoch"]
        self.initial_learning_rate = extra.get("initial_learning_rate", self.initial_learning_rate)
        self.optimizer.learning_rate = extra.get("learning_rate", self.optimizer.learning_rate)
        self.last_halving_epoch = extra.get("last_halving_epoch", 0)
        best_file = None if self.folder is None else self.folder / BEST_PARAMETERS
        if best_file is not None and best_file.is_file():
            self.best_parameters = load_parameters(best_file)

    def state(self) -> dict[str, Any]:
        """Plain data a checkpoint keeps (see :meth:`restore`)."""
        return {
            "learning_rate": self.optimizer.learning_rate,
            "initial_learning_rate": self.initial_learning_rate,
            "last_halving_epoch": self.last_halving_epoch,
        }

    def on_epoch_end(self, record: dict[str, Any], network: Network) -> None:
        epoch, accuracy = record["epoch"], record[self.data_set]["accuracy"]
        if accuracy > self.best_accuracy:
            self.best_accuracy, self.best_epoch = accuracy, epoch
            self.best_parameters = (
                [w.copy() for w in network.weights],
                [b.copy() for b in network.biases],
            )
            if self.folder is not None and self.early_stopping_n:
                save_parameters(self.folder / BEST_PARAMETERS, *self.best_parameters)
        since_best = epoch - self.best_epoch
        if self.early_stopping_n and since_best >= self.early_stopping_n:
            self.stop(f"no better {self.data_set} accuracy for {since_best} epochs")
        if self.halve_after_n and epoch - max(self.best_epoch, self.last_halving_epoch) >= (
            self.halve_after_n
        ):
            self.optimizer.learning_rate /= 2
            self.last_halving_epoch = epoch
            if self.optimizer.learning_rate < self.initial_learning_rate * SMALLEST_FRACTION:
                self.stop(f"η fell below η₀/128 = {self.initial_learning_rate / 128:g}")
        if self.optimizer is not None:
            record["learning_rate"] = self.optimizer.learning_rate
        if self.stop_training:
            record["stopped"] = self.reason

    def stop(self, reason: str) -> None:
        self.stop_training, self.reason = True, reason

    def on_train_end(self, history: History, network: Network) -> None:
        if self.early_stopping_n and self.best_parameters is not None:
            for target, best in zip(
                network.weights + network.biases, sum(self.best_parameters, [])
            ):
                target[...] = best
