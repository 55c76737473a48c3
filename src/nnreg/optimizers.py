"""Optimizers: how a gradient becomes a step. One small interface.

``step(params, grads, decays, state)`` moves each parameter w in place using the
gradient g + c·w, where g is the mean data gradient of the mini-batch,
(1/m)·Σ_x ∇C_x (plus any non-linear penalty gradient the regularizer added), and c is
the regularizer's coupled linear decay for that parameter (λ/n for L2; see
:mod:`nnreg.regularizers`). Folding c·w into the update saves a pass over the weights
and a temporary array per step. ``grads`` are scratch: the step may overwrite them.
``init_state`` returns the optimizer's state as plain arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnreg.validation import check_real

MOMENTUM_HINT = ": μ is the momentum coefficient, 0 for none, typically 0.9"


class Optimizer:
    """Interface: ``learning_rate`` η, ``init_state(params)``,
    ``step(params, grads, decays, state)``."""

    name = "optimizer"

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = check_real(
            "eta", learning_rate, above=0.0, hint=": η is the learning rate, try 0.1 to 3"
        )

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "learning_rate": self.learning_rate}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"

    def init_state(self, params: list[np.ndarray]) -> dict[str, list[np.ndarray]]:
        return {}

    def linear_form(self, decays: list[float]) -> list[tuple[float, float]] | None:
        """(α, β) per parameter when the step is w ← β·w + α·g with no state, else None.

        The training step then lets the network apply the update straight from
        backpropagation (one BLAS call per parameter), instead of forming g first.
        """
        return None

    def step(
        self, params: list[np.ndarray], grads: list[np.ndarray], decays: list[float], state: dict
    ) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Plain stochastic gradient descent: w ← w − η·(g + c·w) = (1 − ηc)·w − η·g."""

    name = "sgd"

    def linear_form(self, decays):
        eta = self.learning_rate
        return [(-eta, 1.0 - eta * c) for c in decays]

    def step(self, params, grads, decays, state):
        eta = self.learning_rate
        for p, g, c in zip(params, grads, decays):
            if c:
                p *= 1.0 - eta * c
            g *= eta
            p -= g


class MomentumSGD(Optimizer):
    """SGD with momentum, as in the book's chapter 3: v ← μ·v − η·(g + c·w), w ← w + v.

    μ = 0 is plain SGD. This equals PyTorch's ``SGD(lr=η, momentum=μ)`` (which keeps
    b = v/(−η) and steps w ← w − η·b).
    """

    name = "momentum"

    def __init__(self, learning_rate: float, momentum: float = 0.9) -> None:
        super().__init__(learning_rate)
        self.momentum = check_real(
            "momentum",
            momentum,
            minimum=0.0,
            below=1.0,
            hint=MOMENTUM_HINT,
        )

    def config(self):
        return {**super().config(), "momentum": self.momentum}

    def init_state(self, params):
        return {"velocity": [np.zeros_like(p) for p in params]}

    def step(self, params, grads, decays, state):
        eta, mu = self.learning_rate, self.momentum
        for p, g, c, v in zip(params, grads, decays, state["velocity"]):
            v *= mu
            g *= eta
            v -= g
            if c:
                np.multiply(p, eta * c, out=g)  # g is scratch now
                v -= g
            p += v


def make_optimizer(learning_rate: float, momentum: float = 0.0) -> Optimizer:
    """Plain SGD when μ = 0, SGD with momentum otherwise."""
    if check_real("momentum", momentum, minimum=0.0, below=1.0, hint=MOMENTUM_HINT) == 0.0:
        return SGD(learning_rate)
    return MomentumSGD(learning_rate, momentum)
