"""Regularizers: every one a small object behind one interface.

Conventions, stated once for all of them (the book's notation):

* η is the learning rate, λ the regularization strength, m the mini-batch size and
  **n the size of the training set** — never m. The penalty is added to the *mean*
  data cost C₀ = (1/n)·Σ_x C_x, so its gradient carries 1/n while the data gradient
  of a mini-batch step is (1/m)·Σ_x ∇C_x.
* Only weights are regularized unless ``regularize_biases=True``; biases then get
  the λ of their layer.
* λ may be one number or one per weight layer (input side first).

The training step calls the hooks in this order, for each mini-batch (after
backpropagation, so every gradient is taken at the weights before the step):

1. ``gradient_terms``: the non-linear *coupled* part h of the penalty gradient
   (subgradient L1's (λ/n)·sgn(w)), taken before anything moves; the optimizer uses
   g + h.
2. ``before_step``: act on the parameters before the optimizer moves them (decoupled
   weight decay, which never enters the optimizer).
3. the optimizer step, given ``coupled_decay``: the coefficient c of each parameter's
   *linear* coupled penalty gradient c·w (L2's λ/n, elastic net's λ₂/n). The optimizer
   adds c·w to the gradient inside its own update (for SGD, w ← (1 − ηc)·w − η·g, with
   no temporary array), so with momentum it goes through the velocity like the data
   gradient does.
4. ``after_step``: act on the parameters after the step (the proximal and cumulative
   L1 shrinkage).

``penalty`` and ``penalty_gradient`` measure the penalty and its (sub)gradient whatever
way the update applies it, so costs can always be reported as data cost + penalty.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nnreg import kernels
from nnreg.validation import check_choice, check_lambdas, check_layer_numbers

Arrays = list[np.ndarray]
Lambdas = float | Sequence[float]


def soft_threshold(w: np.ndarray, threshold, out: np.ndarray | None = None) -> np.ndarray:
    """sgn(w)·max(|w| − t, 0): shrink toward zero by t, stop at zero, never cross it.

    Computed as w − clip(w, −t, t) (two array operations): where |w| ≤ t that is w − w,
    exactly zero. ``threshold`` may be an array of non-negative thresholds.
    """
    clipped = np.clip(w, -threshold, threshold)
    return np.subtract(w, clipped, out=out)


class Regularizer:
    """The interface: penalty, penalty gradient, state and the three update hooks.

    Subclasses override the per-array methods ``_penalty``, ``_penalty_gradient`` and
    whichever of ``_decay``, ``_gradient_term``, ``_before_step``, ``_after_step`` and
    ``_init_state`` they need; the defaults do nothing. The public methods apply them to
    every regularized array (weights, and biases when asked), and skip hooks a subclass
    does not override, so an unused hook costs nothing per step.
    """

    name = "none"

    acts_on_activations = False
    """True for regularizers with activation hooks (dropout, activity penalties)."""

    def __init__(
        self,
        lmbda: Lambdas = 0.0,
        *,
        regularize_biases: bool = False,
        layers: Sequence[int] | None = None,
    ) -> None:
        self.lmbda = check_lambdas("lmbda", lmbda)
        self.regularize_biases = bool(regularize_biases)
        self.layers = None if layers is None else check_layer_numbers(layers)

    # -- configuration ---------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """Hyperparameters as plain data (for run folders and printing)."""
        config = {
            "name": self.name,
            "lmbda": self.lmbda,
            "regularize_biases": self.regularize_biases,
        }
        if self.layers is not None:
            config["layers"] = list(self.layers)
        return config

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"

    def check_layers(self, num_layers: int) -> None:
        """Raise ``ValueError`` when a per-layer λ list or the ``layers`` mask does not
        match the network."""
        for layer in self.layers or ():
            if not 1 <= layer <= num_layers:
                raise ValueError(
                    f"layers names weight layer {layer}, but the network has {num_layers} "
                    f"weight layers: number them 1 to {num_layers}, input side first"
                )
        for key, value in self.config().items():
            if key.endswith("lmbda") and isinstance(value, tuple) and len(value) != num_layers:
                raise ValueError(
                    f"{key} has {len(value)} values but the network has {num_layers} weight "
                    f"layers: give one λ for every layer, or a single number for all"
                )
            if key.endswith("lmbda") and isinstance(value, tuple) and self.layers is not None:
                ignored = [
                    f"λ={v:g} of layer {layer}"
                    for layer, v in enumerate(value, start=1)
                    if v and layer not in self.layers
                ]
                if ignored:
                    raise ValueError(
                        f"layers keeps weight layers {list(self.layers)} only, so {key}'s "
                        f"{', '.join(ignored)} would be ignored: give 0 there, a single λ, "
                        "or include the layer"
                    )

    def _buffer(self, p: np.ndarray) -> np.ndarray:
        """Scratch shaped like ``p``, made once per parameter and reused at every step (a
        term returned in it is valid until the next step)."""
        buffers = self.__dict__.setdefault("_buffers", {})
        key = (id(p), p.shape, p.dtype)
        if key not in buffers:
            buffers[key] = np.empty_like(p)
        return buffers[key]

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_buffers"}

    @staticmethod
    def _per_layer(value: float | tuple[float, ...], layer: int) -> float:
        return value if isinstance(value, float) else value[layer]

    def _targets(self, weights: Arrays, biases: Arrays) -> list[tuple[str, int, np.ndarray]]:
        targets = [(f"weights/{layer}", layer, w) for layer, w in enumerate(weights)]
        if self.regularize_biases:
            targets += [(f"biases/{layer}", layer, b) for layer, b in enumerate(biases)]
        return [target for target in targets if self._selected(target[1])]

    # -- activation hooks (dropout, activity penalties); no-ops by default -------------
    def on_hidden_activations(self, layer: int, activations: np.ndarray, state: dict) -> None:
        """During training only: change hidden layer ``layer``'s activations in place."""

    def on_hidden_deltas(
        self,
        layer: int,
        activations: np.ndarray,
        derivative: np.ndarray,
        delta: np.ndarray,
        batch_size: int,
        state: dict,
    ) -> None:
        """Change hidden layer ``layer``'s error δ = ∂C/∂z (already divided by m) in place."""

    def activation_penalty(self, hidden_activations: Arrays) -> float:
        """Penalty on activations, as a mean over the examples (0 unless overridden)."""
        return 0.0

    # -- measurements ----------------------------------------------------------------
    def penalty(self, weights: Arrays, biases: Arrays, training_set_size: int) -> float:
        """The penalty added to the mean data cost C₀, with n = ``training_set_size``."""
        n = training_set_size
        return float(
            sum(self._penalty(p, layer, n) for _, layer, p in self._targets(weights, biases))
        )

    def penalty_gradient(
        self, weights: Arrays, biases: Arrays, training_set_size: int
    ) -> tuple[Arrays, Arrays]:
        """∂penalty/∂w and ∂penalty/∂b (a subgradient with sgn(0) = 0 for L1)."""
        weight_grads = [np.zeros_like(w) for w in weights]
        bias_grads = [np.zeros_like(b) for b in biases]
        grad_targets = self._targets(weight_grads, bias_grads)
        for (_, layer, p), (_, _, g) in zip(self._targets(weights, biases), grad_targets):
            g += self._penalty_gradient(p, layer, training_set_size)
        return weight_grads, bias_grads

    # -- the update ------------------------------------------------------------------
    def init_state(self, weights: Arrays, biases: Arrays) -> dict[str, dict[str, np.ndarray]]:
        """Per-array state (empty for stateless regularizers), keyed ``weights/0``, ``biases/0``…"""
        state = {}
        for key, layer, p in self._targets(weights, biases):
            entry = self._init_state(p, layer)
            if entry:
                state[key] = entry
        return state

    def coupled_decay(self, num_layers: int, training_set_size: int) -> list[float]:
        """c for each parameter, weights then biases: the coupled gradient term c·w."""
        n = training_set_size
        weight_decays = [
            self._decay(layer, n) if self._selected(layer) else 0.0 for layer in range(num_layers)
        ]
        bias_decays = weight_decays if self.regularize_biases else [0.0] * num_layers
        return weight_decays + bias_decays

    def _selected(self, layer: int) -> bool:
        """Whether weight layer ``layer`` (0-based) is in the ``layers`` mask."""
        return self.layers is None or layer + 1 in self.layers

    def gradient_terms(
        self, weights: Arrays, biases: Arrays, training_set_size: int
    ) -> list[np.ndarray | None]:
        """Hook 1: the non-linear coupled gradient term h of each parameter (weights, then
        biases), or None where there is none."""
        terms: list[np.ndarray | None] = [None] * (2 * len(weights))
        if type(self)._gradient_term is Regularizer._gradient_term:
            return terms
        for key, layer, p in self._targets(weights, biases):
            index = layer if key.startswith("weights") else len(weights) + layer
            terms[index] = self._gradient_term(p, layer, training_set_size)
        return terms

    def add_gradient_terms(
        self, weights: Arrays, biases: Arrays, training_set_size: int, scales: list[float]
    ) -> None:
        """Hook 1 applied in place: p ← p + s·h for each parameter with a gradient term h
        (taken at the current weights), with one s per parameter, weights then biases.

        Plain SGD uses it: w ← β·w + α·(g + h) = β·(w + (α/β)·h) + α·g, so the term joins
        the weights before the step and the step stays one BLAS call. Forms the terms with
        ``gradient_terms``; L1 does it in one pass over the weights instead.
        """
        if (
            type(self)._gradient_term is Regularizer._gradient_term
            and type(self).gradient_terms is Regularizer.gradient_terms
        ):
            return  # no term (L2, the proximal rules, …): nothing to do, cheaply
        terms = self.gradient_terms(weights, biases, training_set_size)
        for p, h, s in zip(weights + biases, terms, scales):
            if h is not None:
                kernels.add_scaled(p, h, s)

    @property
    def acts_before_step(self) -> bool:
        """Whether hook 2 (``before_step``) changes anything."""
        return type(self)._before_step is not Regularizer._before_step

    def add_gradient(
        self,
        weights: Arrays,
        biases: Arrays,
        weight_grads: Arrays,
        bias_grads: Arrays,
        training_set_size: int,
    ) -> None:
        """Add the ``gradient_terms`` to gradient arrays, in place."""
        terms = self.gradient_terms(weights, biases, training_set_size)
        for g, h in zip(weight_grads + bias_grads, terms):
            if h is not None:
                g += h

    def before_step(
        self,
        weights: Arrays,
        biases: Arrays,
        learning_rate: float,
        training_set_size: int,
        state: dict,
    ) -> None:
        """Hook 2: change the parameters before the optimizer step, in place."""
        self._each_parameter(
            "_before_step", weights, biases, learning_rate, training_set_size, state
        )

    def after_step(
        self,
        weights: Arrays,
        biases: Arrays,
        learning_rate: float,
        training_set_size: int,
        state: dict,
    ) -> None:
        """Hook 4: change the parameters after the optimizer step, in place."""
        self._each_parameter(
            "_after_step", weights, biases, learning_rate, training_set_size, state
        )

    def _each_parameter(self, hook: str, weights, biases, learning_rate, n, state) -> None:
        """Call the per-array ``hook`` on every regularized array, unless it is not overridden."""
        if getattr(type(self), hook) is getattr(Regularizer, hook):
            return
        method = getattr(self, hook)
        for key, layer, p in self._targets(weights, biases):
            method(p, layer, learning_rate, n, state.get(key))

    # -- per-array pieces, overridden by subclasses ----------------------------------
    def _penalty(self, p: np.ndarray, layer: int, n: int) -> float:
        return 0.0

    def _penalty_gradient(self, p: np.ndarray, layer: int, n: int) -> np.ndarray | float:
        return 0.0

    def _init_state(self, p: np.ndarray, layer: int) -> dict[str, np.ndarray]:
        return {}

    def _decay(self, layer: int, n: int) -> float:
        return 0.0

    def _gradient_term(self, p, layer, n) -> np.ndarray | None:
        return None

    def _before_step(self, p, layer, learning_rate, n, state) -> None:
        pass

    def _after_step(self, p, layer, learning_rate, n, state) -> None:
        pass


class NoRegularization(Regularizer):
    """No penalty, no change to the update: w ← w − (η/m)·Σ∇C₀."""

    name = "none"

    def __init__(self) -> None:
        super().__init__(0.0)

    def config(self) -> dict[str, Any]:
        return {"name": self.name}


class L2(Regularizer):
    """L2 regularization (weight decay coupled to the gradient).

    Penalty (λ/2n)·Σw². Update with plain SGD: w ← (1 − ηλ/n)·w − (η/m)·Σ∇C₀,
    n = training-set size, m = mini-batch size. The term (λ/n)·w is added to the data
    gradient, so with momentum it accumulates in the velocity like the data gradient.
    Biases are not decayed unless ``regularize_biases=True``.

    Equivalent to PyTorch's ``torch.optim.SGD(weight_decay=λ/n)`` on the weights only.
    """

    name = "l2"

    def _penalty(self, p, layer, n):
        return self._per_layer(self.lmbda, layer) / (2.0 * n) * float(np.vdot(p, p))

    def _penalty_gradient(self, p, layer, n):
        return (self._per_layer(self.lmbda, layer) / n) * p

    def _decay(self, layer, n):
        return self._per_layer(self.lmbda, layer) / n


L1_METHODS = ("subgradient", "proximal", "cumulative")


class L1(Regularizer):
    """L1 regularization. Penalty (λ/n)·Σ|w|, n = training-set size.

    ``method`` chooses how the penalty enters the update (m = mini-batch size):

    * ``"subgradient"`` (the book's rule): w ← w − (ηλ/n)·sgn(w) − (η/m)·Σ∇C₀, with
      sgn(0) = 0. Each step moves a weight by exactly ηλ/n toward zero — and across
      it when |w| < ηλ/n, so weights oscillate around zero and are almost never zero.
    * ``"proximal"``: gradient step w' = w − (η/m)·Σ∇C₀, then the soft-threshold
      w ← sgn(w')·max(|w'| − ηλ/n, 0): shrink linearly, stop at zero, never cross it.
      Gives exact zeros.
    * ``"cumulative"``: the cumulative L1 penalty of Tsuruoka, Tsujii & Ananiadou,
      "Stochastic gradient descent training for L1-regularized log-linear models with
      cumulative penalty" (ACL 2009). u is the total penalty per weight so far,
      u ← u + ηλ/n each step; qᵢ the penalty actually applied to wᵢ. After the gradient
      step: wᵢ ← max(0, wᵢ − (u + qᵢ)) if wᵢ > 0, min(0, wᵢ + (u − qᵢ)) if wᵢ < 0, and
      qᵢ ← qᵢ + (new wᵢ − old wᵢ). A weight that SGD noise pushes away from zero pays the
      penalty it missed, so zeros stay zero.

    With the data gradient at zero, proximal and cumulative L1 give the same step.
    """

    name = "l1"

    def __init__(
        self,
        lmbda: Lambdas = 0.0,
        method: str = "subgradient",
        *,
        regularize_biases: bool = False,
        layers: Sequence[int] | None = None,
    ) -> None:
        super().__init__(lmbda, regularize_biases=regularize_biases, layers=layers)
        self.method = check_choice("L1 method", method, L1_METHODS)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "method": self.method}

    def _penalty(self, p, layer, n):
        return self._per_layer(self.lmbda, layer) / n * float(np.abs(p).sum())

    def _penalty_gradient(self, p, layer, n):
        return (self._per_layer(self.lmbda, layer) / n) * np.sign(p)

    def _init_state(self, p, layer):
        if self.method != "cumulative":
            return {}
        return {"total_penalty": np.zeros((), dtype=p.dtype), "applied": np.zeros_like(p)}

    def _gradient_term(self, p, layer, n):
        if self.method != "subgradient":
            return None
        return kernels.scaled_sign(p, self._per_layer(self.lmbda, layer) / n, self._buffer(p))

    def add_gradient_terms(self, weights, biases, training_set_size, scales):
        if self.method != "subgradient":
            return
        num_layers = len(weights)
        for key, layer, p in self._targets(weights, biases):
            index = layer if key.startswith("weights") else num_layers + layer
            c = self._per_layer(self.lmbda, layer) / training_set_size
            kernels.sign_step(p, scales[index] * c)  # p ← p + s·(λ/n)·sgn(p), one pass

    def _after_step(self, p, layer, learning_rate, n, state):
        threshold = learning_rate * self._per_layer(self.lmbda, layer) / n
        if self.method == "proximal":
            kernels.soft_threshold_(p, threshold)
        elif self.method == "cumulative":
            cumulative_l1_shrink(p, threshold, state)


def cumulative_l1_shrink(w: np.ndarray, threshold: float, state: dict[str, np.ndarray]) -> None:
    """One step of Tsuruoka et al.'s cumulative L1 penalty, in place (see :class:`L1`).

    The paper's two cases are one soft-threshold with a per-weight threshold: the penalty
    still owed, u + qᵢ for wᵢ > 0 and u − qᵢ for wᵢ < 0, i.e. u + sgn(wᵢ)·qᵢ (never
    negative). Then qᵢ ← qᵢ + (new wᵢ − old wᵢ).
    """
    kernels.cumulative_shrink_(w, state["applied"], state["total_penalty"], threshold)


class ElasticNet(Regularizer):
    """Elastic net: L1 and L2 together, each with its own λ.

    Penalty (λ₁/n)·Σ|w| + (λ₂/2n)·Σw². Update: w' = (1 − ηλ₂/n)·w − (η/m)·Σ∇C₀ (the L2
    part coupled to the gradient, as in :class:`L2`), then the soft-threshold
    w ← sgn(w')·max(|w'| − ηλ₁/n, 0) (the L1 part proximal, as in ``L1(method="proximal")``).
    """

    name = "elastic-net"

    def __init__(
        self,
        l1_lmbda: Lambdas = 0.0,
        l2_lmbda: Lambdas = 0.0,
        *,
        regularize_biases: bool = False,
        layers: Sequence[int] | None = None,
    ) -> None:
        super().__init__(0.0, regularize_biases=regularize_biases, layers=layers)
        self.l1_lmbda = check_lambdas("l1_lmbda", l1_lmbda)
        self.l2_lmbda = check_lambdas("l2_lmbda", l2_lmbda)

    def config(self) -> dict[str, Any]:
        config = {
            "name": self.name,
            "l1_lmbda": self.l1_lmbda,
            "l2_lmbda": self.l2_lmbda,
            "regularize_biases": self.regularize_biases,
        }
        if self.layers is not None:
            config["layers"] = list(self.layers)
        return config

    def _penalty(self, p, layer, n):
        l1 = self._per_layer(self.l1_lmbda, layer) / n * float(np.abs(p).sum())
        l2 = self._per_layer(self.l2_lmbda, layer) / (2.0 * n) * float(np.vdot(p, p))
        return l1 + l2

    def _penalty_gradient(self, p, layer, n):
        return (self._per_layer(self.l1_lmbda, layer) / n) * np.sign(p) + (
            self._per_layer(self.l2_lmbda, layer) / n
        ) * p

    def _decay(self, layer, n):
        return self._per_layer(self.l2_lmbda, layer) / n

    def _after_step(self, p, layer, learning_rate, n, state):
        kernels.soft_threshold_(p, learning_rate * self._per_layer(self.l1_lmbda, layer) / n)


class DecoupledWeightDecay(Regularizer):
    """Weight decay applied to the weights directly, outside the gradient (as in AdamW).

    Update: w ← (1 − ηλ/n)·w + Δ, where Δ is the optimizer's step computed from the data
    gradient alone (the decay uses the weights from before the step). Penalty reported:
    (λ/2n)·Σw², the one this decay descends.

    With plain SGD, Δ = −(η/m)·Σ∇C₀ and this is exactly :class:`L2`. With momentum μ
    they differ: L2 puts (λ/n)·w into the velocity v ← μ·v − η·(∇C₀ + (λ/n)·w), so the
    decay is smoothed and, at steady state, amplified by up to 1/(1 − μ) (10× at μ = 0.9);
    decoupled decay shrinks the weights by exactly (1 − ηλ/n) each step whatever μ is,
    and the velocity holds only the data gradient.
    """

    name = "decoupled"

    def _penalty(self, p, layer, n):
        return self._per_layer(self.lmbda, layer) / (2.0 * n) * float(np.vdot(p, p))

    def _penalty_gradient(self, p, layer, n):
        return (self._per_layer(self.lmbda, layer) / n) * p

    def _before_step(self, p, layer, learning_rate, n, state):
        p *= 1.0 - learning_rate * self._per_layer(self.lmbda, layer) / n


def _l1_with(method: str):
    def build(lmbda: Lambdas = 0.0, **options) -> L1:
        return L1(lmbda, method=method, **options)

    return build


def _none(lmbda: Lambdas = 0.0, **options) -> NoRegularization:
    check_lambdas("lmbda", lmbda)  # ignored, but a negative λ is still a mistake worth reporting
    return NoRegularization()


def _elastic_net(lmbda: Lambdas = 0.0, l2_lmbda: Lambdas | None = None, **options) -> ElasticNet:
    return ElasticNet(lmbda, lmbda if l2_lmbda is None else l2_lmbda, **options)


REGULARIZERS = {
    "none": _none,
    "l2": L2,
    "l1": _l1_with("subgradient"),
    "l1-proximal": _l1_with("proximal"),
    "l1-cumulative": _l1_with("cumulative"),
    "elastic-net": _elastic_net,
    "decoupled": DecoupledWeightDecay,
}
"""Regularizers by the names the CLI uses; each builder takes λ first."""

FORMULAS = {
    "none": "no penalty; w ← w − (η/m)·Σ∇C₀",
    "l2": "penalty (λ/2n)·Σw²; w ← (1 − ηλ/n)·w − (η/m)·Σ∇C₀",
    "l1": "the book's subgradient rule: penalty (λ/n)·Σ|w|; w ← w − (ηλ/n)·sgn(w) − (η/m)·Σ∇C₀",
    "l1-proximal": "penalty (λ/n)·Σ|w|; gradient step, then soft-threshold by ηλ/n (exact zeros)",
    "l1-cumulative": "penalty (λ/n)·Σ|w|; cumulative penalty of Tsuruoka et al. (2009)",
    "elastic-net": "penalty (λ/n)·Σ|w| + (λ₂/2n)·Σw²; L2 step, then soft-threshold by ηλ/n",
    "decoupled": "penalty (λ/2n)·Σw²; w ← (1 − ηλ/n)·w + optimizer step (decay outside momentum)",
}
"""One line per regularizer, for ``--help``. n = training-set size, m = mini-batch size."""


def make_regularizer(name: str, lmbda: Lambdas = 0.0, **options) -> Regularizer:
    """Build a regularizer from its CLI name (``l2``, ``l1-proximal``, …) and λ."""
    check_choice("regularizer", name, REGULARIZERS)
    return REGULARIZERS[name](lmbda, **options)
