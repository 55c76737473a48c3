"""Dropout on hidden layers, behind the regularizer interface's activation hooks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nnreg.regularizers import Regularizer
from nnreg.validation import check_real


class Dropout(Regularizer):
    """Inverted dropout on the hidden layers (Srivastava et al., 2014; the book's chapter 3).

    During training each hidden unit is kept with probability 1 − p and its activation is
    divided by 1 − p, so a unit's expected activation is unchanged and inference needs no
    rescaling: a ← a·mask/(1 − p), mask ~ Bernoulli(1 − p); the error of the kept units
    is scaled alike, δ ← δ·mask/(1 − p). Evaluation never drops units (it is deterministic).
    ``rate`` p is one number or one per hidden layer; p = 0 draws no random numbers, so the
    network is bit for bit the one trained without dropout. Masks come from the generator
    seeded with (``seed``, step number), so a resumed run draws the same masks. No penalty.
    """

    name = "dropout"
    acts_on_activations = True

    def __init__(self, rate: float | Sequence[float] = 0.5, seed: int = 0) -> None:
        super().__init__(0.0)
        rates = (rate,) if np.ndim(rate) == 0 else tuple(rate)
        if not rates:
            raise ValueError(
                "dropout rate is an empty list: give one rate, or one per hidden layer"
            )
        self.rates = tuple(
            check_real(
                "dropout rate",
                value,
                minimum=0.0,
                below=1.0,
                hint=": p is the probability of dropping a unit, 0 ≤ p < 1",
            )
            for value in rates
        )
        self.seed = int(seed)
        self._masks: dict[int, np.ndarray] = {}
        self._generator: np.random.Generator | None = None

    def config(self) -> dict[str, Any]:
        rates = self.rates[0] if len(self.rates) == 1 else list(self.rates)
        return {"name": self.name, "rate": rates, "seed": self.seed}

    def check_layers(self, num_layers: int) -> None:
        hidden = num_layers - 1
        if len(self.rates) not in (1, hidden):
            raise ValueError(
                f"dropout has {len(self.rates)} rates but the network has {hidden} hidden "
                "layers: give one rate for all, or one per hidden layer"
            )

    def rate(self, layer: int) -> float:
        return self.rates[0] if len(self.rates) == 1 else self.rates[layer]

    def init_state(self, weights, biases) -> dict[str, dict[str, np.ndarray]]:
        return {"dropout": {"step": np.zeros((), dtype=np.int64)}}

    def on_hidden_activations(self, layer: int, activations: np.ndarray, state: dict) -> None:
        rate = self.rate(layer)
        if layer == 0:
            step = state["dropout"]["step"]
            self._generator = np.random.default_rng((self.seed, int(step)))
            step += 1
            self._masks.clear()
        if rate == 0.0:
            return
        mask = self._generator.random(activations.shape) >= rate
        mask = mask.astype(activations.dtype)
        mask *= 1.0 / (1.0 - rate)
        activations *= mask
        self._masks[layer] = mask

    def on_hidden_deltas(self, layer, activations, derivative, delta, batch_size, state) -> None:
        mask = self._masks.get(layer)
        if mask is not None:
            delta *= mask
