"""Max-norm: a projection of each unit's incoming weights after every step."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nnreg.regularizers import Regularizer
from nnreg.validation import check_real


class MaxNorm(Regularizer):
    """Max-norm constraint (Srivastava et al., 2014; Keras's ``MaxNorm``): after every step
    each unit's incoming weight vector wⱼ (a row of Wˡ) is projected onto the ball ‖wⱼ‖₂ ≤ c:
    wⱼ ← wⱼ·c/‖wⱼ‖₂ where ‖wⱼ‖₂ > c; rows already inside are left exactly as they are. No
    penalty, no n: it bounds the weights instead of pulling them. ``layers`` selects weight
    layers (1 = input side); all by default. Biases are never constrained.
    """

    name = "max-norm"

    def __init__(self, c: float = 3.0, layers: Sequence[int] | None = None) -> None:
        super().__init__(0.0, layers=layers)
        self.c = check_real("max-norm c", c, above=0.0, hint=": the largest allowed row norm")

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"name": self.name, "c": self.c}
        if self.layers is not None:
            config["layers"] = list(self.layers)
        return config

    def _after_step(self, p, layer, learning_rate, n, state) -> None:
        norms = np.sqrt(np.einsum("ij,ij->i", p, p))
        outside = norms > self.c
        if outside.any():
            p[outside] *= (self.c / norms[outside])[:, None]
