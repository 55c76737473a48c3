"""Several regularizers at once, each on its own layers and parameter kinds."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnreg.regularizers import Arrays, Regularizer


class Combined(Regularizer):
    """The sum of several regularizers, behind the same interface: penalties, penalty
    gradients, coupled decays and gradient terms add up; the step hooks and the forward
    activation hooks run in the order given, the backward ones in reverse. A part therefore
    sees the activations as the parts before it left them: ``Combined([ActivityRegularizer(…),
    Dropout(…)])`` penalizes the activations before dropout (as Keras's activity
    regularizer on a layer followed by a Dropout layer), the reverse order the dropped
    ones; either way the gradient is exactly that objective's. Combined with each part's
    ``layers`` and ``regularize_biases`` this chooses, per layer and per parameter kind, which
    regularizer and which λ apply — e.g. ``Combined([L2(5.0, layers=[1]), L1(1.0,
    layers=[2]), Dropout(0.5)])``. Each part keeps its own state.
    """

    name = "combined"

    def __init__(self, parts: list[Regularizer]) -> None:
        super().__init__(0.0)
        if not parts:
            raise ValueError("Combined needs at least one regularizer")
        self.parts = list(parts)
        self.acts_on_activations = any(part.acts_on_activations for part in self.parts)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "parts": [part.config() for part in self.parts]}

    def check_layers(self, num_layers: int) -> None:
        for part in self.parts:
            part.check_layers(num_layers)

    def _state(self, state: dict, index: int) -> dict:
        prefix = f"{index}|"
        return {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}

    def init_state(self, weights: Arrays, biases: Arrays) -> dict:
        state = {}
        for index, part in enumerate(self.parts):
            for key, entry in part.init_state(weights, biases).items():
                state[f"{index}|{key}"] = entry
        return state

    def penalty(self, weights, biases, training_set_size) -> float:
        return sum(part.penalty(weights, biases, training_set_size) for part in self.parts)

    def penalty_gradient(self, weights, biases, training_set_size):
        weight_grads = [np.zeros_like(w) for w in weights]
        bias_grads = [np.zeros_like(b) for b in biases]
        for part in self.parts:
            part_w, part_b = part.penalty_gradient(weights, biases, training_set_size)
            for total, g in zip(weight_grads + bias_grads, part_w + part_b):
                total += g
        return weight_grads, bias_grads

    def coupled_decay(self, num_layers, training_set_size) -> list[float]:
        decays = [part.coupled_decay(num_layers, training_set_size) for part in self.parts]
        return [sum(values) for values in zip(*decays)]

    def gradient_terms(self, weights, biases, training_set_size):
        total: list = [None] * (len(weights) + len(biases))
        for part in self.parts:
            for index, term in enumerate(part.gradient_terms(weights, biases, training_set_size)):
                if term is not None:
                    total[index] = term if total[index] is None else total[index] + term
        return total

    @property
    def acts_before_step(self) -> bool:
        return any(part.acts_before_step for part in self.parts)

    def before_step(self, weights, biases, learning_rate, training_set_size, state) -> None:
        for index, part in enumerate(self.parts):
            part.before_step(
                weights, biases, learning_rate, training_set_size, self._state(state, index)
            )

    def after_step(self, weights, biases, learning_rate, training_set_size, state) -> None:
        for index, part in enumerate(self.parts):
            part.after_step(
                weights, biases, learning_rate, training_set_size, self._state(state, index)
            )

    def on_hidden_activations(self, layer, activations, state) -> None:
        for index, part in enumerate(self.parts):
            part.on_hidden_activations(layer, activations, self._state(state, index))

    def on_hidden_deltas(self, layer, activations, derivative, delta, batch_size, state) -> None:
        # backpropagation undoes the forward hooks last-first (the chain rule's order)
        for index, part in reversed(list(enumerate(self.parts))):
            part.on_hidden_deltas(
                layer, activations, derivative, delta, batch_size, self._state(state, index)
            )

    def activation_penalty(self, hidden_activations) -> float:
        return sum(part.activation_penalty(hidden_activations) for part in self.parts)
