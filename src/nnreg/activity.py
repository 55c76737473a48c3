"""Activity regularization: L1/L2 penalties on hidden activations (as Keras's
``activity_regularizer``), behind the regularizer interface's activation hooks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nnreg.regularizers import Regularizer
from nnreg.validation import check_real


class ActivityRegularizer(Regularizer):
    """Penalty on the activations aˡ of hidden layers, averaged over the examples like the
    data cost: Ω = (1/m)·Σ_x Σ_l [λ₁·Σ|aˡ| + (λ₂/2)·Σ(aˡ)²] (Keras divides its activity
    penalty by the batch size the same way). Its gradient joins backpropagation: the error
    of hidden layer l gains (1/m)·(λ₁·sgn(aˡ) + λ₂·aˡ) ⊙ σ'(zˡ). ``layers`` chooses hidden
    layers by number (1 = the first hidden layer); all by default. Weights are untouched.
    """

    name = "activity"
    acts_on_activations = True

    def __init__(self, l1: float = 0.0, l2: float = 0.0, layers: Sequence[int] | None = None):
        super().__init__(0.0)
        hint = ": the activity penalty's strength, 0 for none"
        self.l1 = check_real("activity l1", l1, minimum=0.0, hint=hint)
        self.l2 = check_real("activity l2", l2, minimum=0.0, hint=hint)
        self.hidden_layers = None if layers is None else tuple(int(layer) for layer in layers)
        self._seen: dict[int, np.ndarray] = {}  # per hidden layer, the activations penalized

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"name": self.name, "l1": self.l1, "l2": self.l2}
        if self.hidden_layers is not None:
            config["layers"] = list(self.hidden_layers)
        return config

    def check_layers(self, num_layers: int) -> None:
        for layer in self.hidden_layers or ():
            if not 1 <= layer <= num_layers - 1:
                raise ValueError(
                    f"activity layers names hidden layer {layer}, but the network has "
                    f"{num_layers - 1} hidden layers: number them from 1"
                )

    def on_hidden_activations(self, layer: int, activations: np.ndarray, state: dict) -> None:
        """Keeps the activations as this penalty sees them: a hook after it (dropout) may
        change them in place before backpropagation reaches this layer."""
        if self.applies(layer):
            seen = self._seen.get(layer)
            if seen is None or seen.shape != activations.shape or seen.dtype != activations.dtype:
                seen = self._seen[layer] = np.empty_like(activations)
            np.copyto(seen, activations)

    def applies(self, layer: int) -> bool:
        return self.hidden_layers is None or layer + 1 in self.hidden_layers

    def activation_penalty(self, hidden_activations) -> float:
        total = 0.0
        for layer, a in enumerate(hidden_activations):
            if self.applies(layer):
                total += self.l1 * float(np.abs(a).sum()) + 0.5 * self.l2 * float(np.vdot(a, a))
        return total / len(hidden_activations[0]) if hidden_activations else 0.0

    def on_hidden_deltas(self, layer, activations, derivative, delta, batch_size, state) -> None:
        if not self.applies(layer):
            return
        activations = self._seen.get(layer, activations)
        gradient = np.zeros_like(activations)
        if self.l1:
            gradient += self.l1 * np.sign(activations)
        if self.l2:
            gradient += self.l2 * activations
        gradient *= derivative
        gradient *= 1.0 / batch_size
        delta += gradient
