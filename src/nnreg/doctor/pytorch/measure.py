"""What the first PyTorch update does to each parameter, measured from the record.

* **The penalty in the loss**: its gradient (the part that does not flow through the model's
  outputs) is fitted per tensor as ``a·w + b·sgn(w)``; across the weight tensors, a constant
  ``a`` is L2, a constant ``a·‖w‖`` a norm (``torch.norm(W)``, not squared).
* **The optimizer's weight_decay**, by behaviour: the optimizer's class is stepped on copies
  of each parameter group, with the recorded data gradient, once with the group's
  ``weight_decay`` and once with 0; the difference ``D`` is a true decay when it is
  ``−lr·weight_decay·w`` (SGD's first step, AdamW), and something else when the optimizer
  rescales it (Adam's ``weight_decay``: an L2 term divided by √v, per parameter).
* **A step written by hand**: ``w′ − w`` fitted as ``α·g + β·w + γ·sgn(w)`` — η = −α, and the
  decay per unit of η, β/α.

Each parameter's regularization is then one number in the book's terms: the coefficient
``k`` of its penalty gradient (the book's λ/n), so that the step's penalty part is −η·k·w.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from nnreg.doctor.pytorch.capture import ParameterRecord, StepRecord

EXACT = 1e-6
"""Relative residual below which a fit is the rule (float32 gradients)."""


@dataclass
class TermFit:
    """``value ≈ a·w + b·sgn(w)`` over one tensor (and η for a step by hand)."""

    a: float = 0.0
    b: float = 0.0
    residual: float = 0.0

    @property
    def present(self) -> bool:
        return abs(self.a) > 0 or abs(self.b) > 0


@dataclass
class GroupDecay:
    """What an optimizer's ``weight_decay`` does to one parameter group in a step."""

    weight_decay: float
    lr: float
    decay: float
    """κ in D ≈ −κ·w (lr·weight_decay for a true decay)."""
    residual: float
    measured: bool = True

    @property
    def true_decay(self) -> bool:
        """The step's weight_decay part is −lr·wd·w: a decay (coupled in SGD, decoupled in
        AdamW); False when the optimizer rescales it per parameter (Adam)."""
        return (
            self.measured
            and self.residual < 1e-3
            and math.isclose(self.decay, self.lr * self.weight_decay, rel_tol=1e-3)
        )


@dataclass
class Measured:
    record: StepRecord
    penalty: list[TermFit]
    """The penalty in the loss, per parameter (its gradient's a and b)."""
    by_hand: list[TermFit] | None
    """For a step written by hand: a = the decay per unit of η, b = the L1 step per unit of η."""
    eta: float | None
    """η: the optimizer's lr (of the weights' group), or −α of a step written by hand."""
    groups: dict[int, GroupDecay] = field(default_factory=dict)
    norm_penalty: bool = False
    """The penalty's gradient is c·w/‖w‖ (a norm, not its square)."""
    per_example: bool = False

    def decay_of(self, index: int) -> float:
        """k: the parameter's decay per step, per unit of η (the book's λ/n), from every
        source together (penalty in the loss, weight_decay, a step by hand)."""
        return self.loss_decay(index) + self.optimizer_decay(index) + self.hand_decay(index)

    def loss_decay(self, index: int) -> float:
        return self.penalty[index].a

    def optimizer_decay(self, index: int) -> float:
        group = self.groups.get(self.record.parameters[index].group)
        return group.weight_decay if group is not None else 0.0

    def hand_decay(self, index: int) -> float:
        return self.by_hand[index].a if self.by_hand else 0.0

    def l1_of(self, index: int) -> float:
        hand = self.by_hand[index].b if self.by_hand else 0.0
        return self.penalty[index].b + hand

    def regularized(self, index: int) -> bool:
        return abs(self.decay_of(index)) > 0 or abs(self.l1_of(index)) > 0


def measure(record: StepRecord) -> Measured:
    penalty = [_penalty_fit(p) for p in record.parameters]
    by_hand = [_hand_fit(p) for p in record.parameters] if record.by_hand else None
    measured = Measured(record, penalty, by_hand, _eta(record, by_hand))
    if record.optimizer is not None:
        measured.groups = _group_decays(record)
    weights = [i for i, p in enumerate(record.parameters) if p.is_weight]
    measured.norm_penalty = _is_norm(record, penalty, weights)
    measured.per_example = _per_example(record, penalty)
    return measured


def _fit(columns: list[np.ndarray], target: np.ndarray) -> tuple[np.ndarray, float]:
    """Least squares of ``target`` on ``columns``: the simplest subset of the columns that
    fits as well as all of them (float32 gradients leave noise of about 1e-4 of the step: a
    term is kept only when leaving it out fits worse), and the relative residual."""
    scale = float(np.linalg.norm(target))
    if scale < 1e-30:
        return np.zeros(len(columns)), 0.0
    design = np.column_stack(columns)
    fits = []
    for subset in _subsets(len(columns)):
        part, *_ = np.linalg.lstsq(design[:, subset], target, rcond=None)
        solution = np.zeros(len(columns))
        solution[subset] = part
        residual = float(np.linalg.norm(design @ solution - target)) / scale
        fits.append((solution, residual))
    fullest = fits[-1][1]
    if fullest > 0.05:  # no rule of this form: the closest
        return fits[-1]
    return next(fit for fit in fits if fit[1] <= 2 * fullest + EXACT)


def _subsets(count: int) -> list[list[int]]:
    from itertools import combinations

    return [list(c) for size in range(1, count + 1) for c in combinations(range(count), size)]


def _penalty_fit(parameter: ParameterRecord) -> TermFit:
    w = parameter.before.ravel()
    g = parameter.penalty_gradient.ravel()
    if np.linalg.norm(g) <= 1e-7 * max(np.linalg.norm(parameter.gradient), 1e-30):
        return TermFit()  # float noise of the two gradients: no penalty
    (a, b), residual = _fit([w, np.sign(w)], g)
    return TermFit(float(a), float(b), residual)


def _hand_fit(parameter: ParameterRecord) -> TermFit:
    """Δ = α·g + β·w + γ·sgn(w): the decay and L1 step per unit of η (β/α, γ/α)."""
    w = parameter.before.ravel()
    delta = (parameter.after - parameter.before).ravel()
    g = parameter.gradient.ravel()
    (alpha, beta, gamma), residual = _fit([g, w, np.sign(w)], delta)
    if alpha == 0:
        return TermFit(residual=residual)
    return TermFit(float(beta / alpha), float(gamma / alpha), residual)


def _eta(record: StepRecord, by_hand: list[TermFit] | None) -> float | None:
    if record.optimizer is not None:
        groups = record.optimizer.groups
        weights = [p.group for p in record.parameters if p.is_weight and p.group is not None]
        group = groups[weights[0]] if weights else (groups[0] if groups else {})
        return float(group.get("lr", math.nan))
    alphas = []
    for p in record.parameters:
        if p.after is None:
            continue
        delta, g = (p.after - p.before).ravel(), p.gradient.ravel()
        (alpha, *_), _ = _fit([g, p.before.ravel(), np.sign(p.before.ravel())], delta)
        if alpha:
            alphas.append(-alpha)
    return float(np.median(alphas)) if alphas else None


def _group_decays(record: StepRecord) -> dict[int, GroupDecay]:
    """Each group with weight_decay > 0, stepped on copies with and without it."""
    decays = {}
    for index, group in enumerate(record.optimizer.groups):
        wd = float(group.get("weight_decay", 0) or 0)
        if wd <= 0:
            continue
        members = [p for p in record.parameters if p.group == index]
        decays[index] = _stepped(record.optimizer.kind, group, members, wd)
    return decays


def _stepped(kind: type, group: dict, members: list[ParameterRecord], wd: float) -> GroupDecay:
    import torch

    lr = float(group.get("lr", math.nan))
    if not members:
        return GroupDecay(wd, lr, math.nan, math.inf, measured=False)
    try:
        with_decay = _one_step(torch, kind, group, members, wd)
        without = _one_step(torch, kind, group, members, 0.0)
    except Exception:  # noqa: BLE001 - an optimizer of theirs that cannot be rebuilt
        return GroupDecay(wd, lr, math.nan, math.inf, measured=False)
    d = np.concatenate([(a - b).ravel() for a, b in zip(with_decay, without)])
    w = np.concatenate([p.before.ravel() for p in members])
    (kappa,), residual = _fit([-w], d)
    return GroupDecay(wd, lr, float(kappa), residual)


def _one_step(torch, kind: type, group: dict, members: list[ParameterRecord], wd: float):
    copies = [torch.tensor(p.before, dtype=torch.float64, requires_grad=True) for p in members]
    for copy, p in zip(copies, members):
        copy.grad = torch.tensor(p.data_gradient, dtype=torch.float64)
    options = {k: v for k, v in group.items() if k != "params"}
    options["weight_decay"] = wd
    optimizer = kind([{"params": copies, **options}])
    optimizer.step()
    return [copy.detach().numpy().copy() for copy in copies]


def _is_norm(record: StepRecord, penalty: list[TermFit], weights: list[int]) -> bool:
    """Across the weight tensors, a·‖w‖ is constant while a is not: a norm, not a square."""
    fits = [(penalty[i].a, np.linalg.norm(record.parameters[i].before)) for i in weights]
    fits = [(a, norm) for a, norm in fits if a > 0]
    if len(fits) < 2:
        return False
    coefficients = [a for a, _ in fits]
    products = [a * norm for a, norm in fits]
    same = all(math.isclose(x, products[0], rel_tol=1e-3) for x in products)
    differ = not all(math.isclose(x, coefficients[0], rel_tol=1e-3) for x in coefficients)
    return same and differ


def _per_example(record: StepRecord, penalty: list[TermFit]) -> bool:
    """The penalty was computed between different forwards: once per example."""
    if record.forwards < 2:
        return False
    for p, fit in zip(record.parameters, penalty):
        if p.is_weight and fit.present and len(set(p.reads)) > 1:
            return True
    return False
