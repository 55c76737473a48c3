"""What the learner's gradient computation returns, and how the probes put known gradients
in its place: which array is the gradient of which parameter (by name in a dict, else by
shape in the learner's own order), and whether it is a sum or a mean over the mini-batch."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnreg.doctor.parameters import leaves
from nnreg.doctor.replay import DoctorError, Learner, quietly, run_update, set_parameters

BASE = {"eta": 0.5, "lmbda": 5.0, "n": 1000, "m": 11}
"""Base setting of a step: ηλ/n = 0.0025, ηλ/m ≈ 0.23, λ/n = 0.005, ηλ = 2.5 — all distinct;
m = 11 is no layer's width, so the examples' axis is never mistaken for a class axis."""


EPOCH_BASE = {"eta": 0.001, "lmbda": 0.5, "n": 11, "m": 11}
"""Base setting of a training loop's epoch: one mini-batch (n = m). A small η keeps two
steps (n doubled: two mini-batches) close to twice one step — the second step's data
gradient, taken at weights the first step's penalty moved, differs by a term of order η²λ —
and a small ηλ/n keeps m decays (a penalty inside the loop over the examples) close to m
times one, so the power laws stay clean."""


def base_setting(learner: Learner) -> dict[str, float]:
    return dict(EPOCH_BASE if learner.unit.kind == "epoch" else BASE)


# -- the gradient computation: what it returns ------------------------------------------------
@dataclass
class GradientProtocol:
    structure: Any
    calls_per_update: int
    arguments: tuple
    keywords: dict
    leaf_parameter: list[int | None]
    """For each array the gradient computation returns, the parameter it belongs to (None
    for the arrays it returns besides, such as ``dA1``)."""


def discover_gradient_protocol(learner: Learner) -> GradientProtocol | None:
    """What the gradient computation returns and how often an update calls it; None when
    there is none to replace (the gradients are computed inline)."""
    if learner.hook is None:
        return None
    real = learner.hook.real()
    calls = []

    def recording(*arguments, **keywords):
        result = real(*arguments, **keywords)
        calls.append((arguments, keywords, result))
        return result

    run_update(learner, base_setting(learner), recording)
    if not calls:
        raise DoctorError(
            f"{learner.unit.name} never called {learner.gradient_name}: name the method or "
            "function it calls with --gradients NAME"
        )
    arguments, keywords, structure = calls[0]
    leaf_parameter = match_leaves(structure, learner)
    return GradientProtocol(structure, len(calls), arguments, keywords, leaf_parameter)


def match_leaves(structure: Any, learner: Learner) -> list[int | None]:
    """For each array the gradient computation returns, the parameter it is the gradient
    of: by name in a dict (``dW1`` → ``W1``, other entries none), else by shape, in order
    (a weight and a bias of the same *size* — one output unit — are told apart by their
    shapes), else by size."""
    shapes = [p.get(learner.root).shape for p in learner.parameters]
    found = leaves(structure)
    by_name = _matched_by_name(structure, learner)
    if by_name is not None:
        return by_name
    order = sorted(range(len(shapes)), key=lambda i: learner.parameters[i].order)
    for same in (lambda a, b: a == b, lambda a, b: math.prod(a) == math.prod(b)):
        used: list[int] = []
        start = 0
        for leaf in found:
            # the next parameter, in the learner's own order, of the leaf's shape
            turn = order[start:] + order[:start]
            free = [i for i in turn if same(leaf.shape, shapes[i]) and i not in used]
            if not free:
                break
            used.append(free[0])
            start = order.index(free[0]) + 1
        else:
            return list(used)
    shape = next(leaf.shape for leaf in found if all(leaf.size != math.prod(s) for s in shapes))
    raise DoctorError(
        f"{learner.gradient_name} returned an array of shape {shape} that matches no "
        "parameter: it must return one gradient per weight and bias array"
    )


def _matched_by_name(structure: Any, learner: Learner) -> list[int | None] | None:
    """``{"dW1": …, "db1": …, "dA1": …}`` matched to parameters named ``W1``, ``b1`` (other
    entries to none); None unless the gradients are such a dict naming every parameter."""
    if not isinstance(structure, dict) or not all(isinstance(k, str) for k in structure):
        return None
    names = [str(p.path[-1]).lower() for p in learner.parameters]
    matched: list[int | None] = []
    for key, value in structure.items():
        if not isinstance(value, np.ndarray):
            return None
        bare = key.lower()
        for prefix in ("grad_", "nabla_", "delta_", "grad", "nabla", "d"):
            if bare.startswith(prefix) and bare[len(prefix) :] in names:
                bare = bare[len(prefix) :]
                break
        index = names.index(bare) if bare in names else None
        matched.append(None if index in matched else index)
    if sorted(i for i in matched if i is not None) != list(range(len(names))):
        return None
    return matched


def replaced_gradients(structure: Any, protocol: GradientProtocol, arrays: list) -> Any:
    """``structure`` with the arrays of the parameters' gradients replaced, in order, by
    ``arrays`` (one per such array); the other arrays it holds kept."""
    values = iter(arrays)
    replacements = [
        next(values) if parameter is not None else leaf
        for leaf, parameter in zip(leaves(structure), protocol.leaf_parameter)
    ]
    return rebuild(structure, replacements)


def rebuild(structure: Any, replacements: list[np.ndarray]) -> Any:
    """``structure`` with its arrays replaced, in order, by ``replacements``."""
    iterator = iter(replacements)

    def build(value):
        if isinstance(value, np.ndarray):
            return next(iterator)
        if isinstance(value, dict):
            return {key: build(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(build(item) for item in value)
        return value

    return build(structure)


def batch_gradient_is_sum(learner: Learner, protocol: GradientProtocol) -> list[bool]:
    """For each array the gradient computation returns: does it grow with the batch (a sum
    over the examples) or not (a mean)? The real one is called on its recorded arguments and
    on them with every example twice — each array of the arguments doubled along its
    examples' axis (the one of length m; with several, the batch's own), lists of m examples
    repeated. Weights and biases may differ (a matrix backprop that sums ``delta @ A.T``
    but averages ``delta.mean(axis=0)``)."""
    m = base_setting(learner)["m"]
    preferred = 0 if learner.unit.layout in ("rows", "row-labels") else -1

    def doubled(value):
        if isinstance(value, list) and len(value) == m:
            return value + value
        if isinstance(value, (list, tuple)):
            return type(value)(doubled(v) for v in value)
        if isinstance(value, dict):
            return {k: doubled(v) for k, v in value.items()}
        if isinstance(value, np.ndarray):
            axes = [axis for axis, length in enumerate(value.shape) if length == m]
            if axes:
                axis = axes[0] if len(axes) == 1 else axes[preferred]
                return np.concatenate([value, value], axis=axis)
        return value

    real = learner.hook.real()
    set_parameters(learner)
    try:
        with quietly():
            single = leaves(real(*protocol.arguments, **protocol.keywords))
            twice = leaves(
                real(
                    *[doubled(a) for a in protocol.arguments],
                    **{k: doubled(v) for k, v in protocol.keywords.items()},
                )
            )
    except Exception as error:  # noqa: BLE001 - their code may raise anything
        raise DoctorError(
            f"{learner.gradient_name} raised {type(error).__name__}: {error} when called on "
            "the mini-batch doubled; the doctor calls it so to tell whether it returns the "
            "sum or the mean over the batch"
        ) from None
    return [
        bool(np.linalg.norm(t) > 1.5 * max(np.linalg.norm(s), 1e-300))
        for s, t, p in zip(single, twice, protocol.leaf_parameter)
        if p is not None
    ]
