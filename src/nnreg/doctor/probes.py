"""Probes: run the learner's update with controlled weights and controlled data gradients
and measure what it does.

* **Regularization step**: the gradient method is replaced by one that returns zeros, so
  the update can only apply its penalty. A penalty added inside the gradient method is
  invisible to that probe, so the step is also measured with the real gradient method as
  the difference between an update with λ and the same update with λ = 0 (the data part
  cancels); when the two disagree, the latter is the rule. Each parameter's change
  d = w − w′ is fitted as d = a·w + b·sgn(w) + c over weights well away from zero
  (a: multiplicative decay, b: L1 shrink, c: a shift shared by all weights), and the tiny
  weights show whether an L1 shrink crosses zero or stops at it. Repeating with η, λ, n
  and m each doubled gives how a, b, c scale: k·η^i·λ^j·n^k·m^l.
* **Data step** (λ = 0): the gradient method returns known random arrays; the change must
  be −(η/m)·Σ_x ∇C_x. When the gradient method takes the whole batch, calling the real one
  on the batch and on the batch doubled tells whether it returns a sum or a mean.
* **Cost**: the penalty is cost(λ) − cost(0), measured while λ, the evaluated set's size,
  n (when the cost takes it) and the weights' scale are doubled.
"""

from __future__ import annotations

import contextlib
import inspect
import linecache
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnreg.doctor.loading import ARGUMENT_NAMES, PROBE_SIZES, DoctorError, Learner, quietly
from nnreg.doctor.parameters import leaves

BASE = {"eta": 0.5, "lmbda": 5.0, "n": 1000, "m": 10}
"""Base setting: ηλ/n = 0.0025, ηλ/m = 0.25, λ/n = 0.005, ηλ = 2.5 — all distinct."""
TINY = 1e-7
"""Magnitude of the weights that sit closer to zero than any L1 step."""
LARGE = 0.05
COST_EXAMPLES = 8
"""How many examples the cost function is evaluated on (and twice as many)."""


# -- plumbing -------------------------------------------------------------------------------
def controlled(shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """Values of both signs with |v| in [0.1, 1], every fifth one ±1e-7."""
    values = rng.uniform(0.1, 1.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    flat = values.reshape(-1)
    flat[::5] = TINY * np.sign(flat[::5])
    return values


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


class Substitute:
    """Replaces the learner's gradient method on the instance while in a ``with`` block."""

    def __init__(self, learner: Learner, function: Callable) -> None:
        self.learner, self.function = learner, function

    def __enter__(self):
        instance, name = self.learner.instance, self.learner.gradient_name
        self.had_own = name in vars(instance)
        self.previous = vars(instance).get(name)
        setattr(instance, name, self.function)
        return self

    def __exit__(self, *exc):
        instance, name = self.learner.instance, self.learner.gradient_name
        if self.had_own:
            setattr(instance, name, self.previous)
        else:
            delattr(instance, name)


def set_parameters(learner: Learner, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    values = []
    for parameter in learner.parameters:
        shape = parameter.get(learner.instance).shape
        array = controlled(shape, rng)
        parameter.set(learner.instance, array.copy())
        values.append(array)
    return values


def run_update(learner: Learner, setting: dict, gradient: Callable, seed: int = 0):
    """Controlled parameters, one update with ``gradient`` substituted; (before, after)."""
    before = set_parameters(learner, seed)
    batch = learner.make_batch(setting["m"], np.random.default_rng(seed + 1))
    with Substitute(learner, gradient), quietly():
        try:
            learner.call_update(batch, setting["eta"], setting["lmbda"], setting["n"])
        except Exception as error:  # noqa: BLE001 - their code may raise anything
            raise DoctorError(
                f"{learner.name}.update raised {type(error).__name__}: {error} while probed "
                f"(network {PROBE_SIZES}, batch of {setting['m']} (x, y) column vectors)"
            ) from None
    after = learner.snapshot()
    for b, a in zip(before, after):
        if a.shape != b.shape:
            raise DoctorError(f"the update changed a parameter's shape from {b.shape} to {a.shape}")
    spoiled = [p.label for p, a in zip(learner.parameters, after) if not np.all(np.isfinite(a))]
    if spoiled:
        line = _line_that_spoils(learner, setting, gradient, seed)
        where = ""
        if line is not None:
            label = learner.line_label(line[0])
            at = f"{learner.source.name}, line {label}" if isinstance(label, int) else label
            where = f" at {at}: {line[1]}"
        method = getattr(learner.update, "__name__", "update")
        raise DoctorError(
            f"{learner.name}.{method} turned {', '.join(spoiled)} into NaN or inf{where}"
            + f", from finite parameters and gradients (network {PROBE_SIZES}, batch of "
            f"{setting['m']}, η = {setting['eta']}, λ = {setting['lmbda']}, n = {setting['n']}): "
            "an update that is not a number cannot be measured — fix that line first"
        )
    return before, after


def _line_that_spoils(learner: Learner, setting: dict, gradient: Callable, seed: int):
    """(line, its text) of the learner's file after which a parameter first holds NaN or
    inf, found by running the update again with a line tracer; None if not found there."""
    source = str(learner.source)
    found: list[tuple[int, str]] = []
    last: dict[Any, int] = {}

    def spoiled() -> bool:
        return not all(np.all(np.isfinite(p.get(learner.instance))) for p in learner.parameters)

    def trace(frame, event, argument):
        if frame.f_code.co_filename != source:
            return None
        if event in ("line", "return") and not found and frame in last and spoiled():
            found.append(last[frame])
        if event == "line":
            last[frame] = frame.f_lineno
        return trace

    set_parameters(learner, seed)
    batch = learner.make_batch(setting["m"], np.random.default_rng(seed + 1))
    previous = sys.gettrace()
    with Substitute(learner, gradient), quietly(), contextlib.suppress(Exception):
        sys.settrace(trace)
        try:
            learner.call_update(batch, setting["eta"], setting["lmbda"], setting["n"])
        finally:
            sys.settrace(previous)
    if not found:
        return None
    text = linecache.getline(source, found[0]).strip()
    return found[0], text


# -- what the real gradient method returns ----------------------------------------------------
@dataclass
class GradientProtocol:
    structure: Any
    calls_per_update: int
    arguments: tuple
    keywords: dict
    leaf_parameter: list[int]
    """For each array the gradient method returns, the parameter it belongs to."""


def discover_gradient_protocol(learner: Learner) -> GradientProtocol:
    real = getattr(learner.instance, learner.gradient_name)
    calls = []

    def recording(*arguments, **keywords):
        result = real(*arguments, **keywords)
        calls.append((arguments, keywords, result))
        return result

    run_update(learner, BASE, recording)
    if not calls:
        raise DoctorError(
            f"{learner.name}'s update never called {learner.gradient_name}: name the method it "
            "calls with --gradients NAME"
        )
    arguments, keywords, structure = calls[0]
    sizes = [p.get(learner.instance).size for p in learner.parameters]
    leaf_parameter = []
    for leaf in leaves(structure):
        if leaf.size not in sizes:
            raise DoctorError(
                f"{learner.gradient_name} returned an array of shape {leaf.shape} that matches "
                "no parameter: it must return one gradient per weight and bias array"
            )
        leaf_parameter.append(sizes.index(leaf.size))
    return GradientProtocol(structure, len(calls), arguments, keywords, leaf_parameter)


def batch_gradient_is_sum(learner: Learner, protocol: GradientProtocol) -> list[bool]:
    """For each array the gradient method returns: does it grow with the batch (a sum over
    the examples) or not (a mean)? The real method is called on its recorded batch and on
    that batch doubled. Weights and biases may differ (a matrix backprop that sums
    ``delta @ A.T`` but averages ``delta.mean(axis=0)``)."""
    m = BASE["m"]

    def doubled(value):
        if isinstance(value, list) and len(value) == m:
            return value + value
        if isinstance(value, np.ndarray):
            for axis, length in enumerate(value.shape):
                if length == m:
                    return np.concatenate([value, value], axis=axis)
        return value

    real = getattr(learner.instance, learner.gradient_name)
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
        for s, t in zip(single, twice)
    ]


# -- the regularization step -----------------------------------------------------------------
@dataclass
class StepFit:
    """d = a·w + b·sgn(w) + c fitted over one kind of parameter (weights or biases)."""

    a: float
    b: float
    c: float
    residual: float
    crosses_zero: bool | None  # for an L1 shrink: do tiny weights end on the other side?

    @property
    def changes(self) -> bool:
        return any(abs(v) > 1e-12 for v in (self.a, self.b, self.c))


def fit_step(before: list[np.ndarray], after: list[np.ndarray]) -> StepFit:
    """Fit d = w − w′ as a·w + b·sgn(w) + c_j, with one shift c_j per array j (a mean
    over an array shifts all of its elements alike). ``c`` is reported as c_j/mean(sgn(w_j))
    for the array whose weights' mean sign is largest, so it scales like the penalty."""
    w = np.concatenate([b.ravel() for b in before])
    new = np.concatenate([a.ravel() for a in after])
    owner = np.concatenate([np.full(b.size, j) for j, b in enumerate(before)])
    d = w - new
    large = np.abs(w) >= LARGE
    indicators = (owner[large, None] == np.arange(len(before))[None, :]).astype(float)
    design = np.column_stack([w[large], np.sign(w[large]), indicators])
    solution, *_ = np.linalg.lstsq(design, d[large], rcond=None)
    solution[np.abs(solution) < 1e-13] = 0.0
    a, b, shifts = float(solution[0]), float(solution[1]), solution[2:]
    mean_signs = np.array([np.mean(np.sign(x)) for x in before])
    j = int(np.argmax(np.abs(mean_signs)))
    c = float(shifts[j] / mean_signs[j]) if np.any(shifts) and mean_signs[j] != 0 else 0.0
    scale = float(np.linalg.norm(d[large]))
    residual = float(np.linalg.norm(design @ solution - d[large])) / scale if scale > 1e-12 else 0.0
    crosses = None
    tiny = ~large
    if b > 10 * TINY and tiny.any():
        crosses = bool(np.mean(np.sign(new[tiny]) == -np.sign(w[tiny])) > 0.5)
    return StepFit(a, b, c, residual, crosses)


@dataclass
class Scaling:
    """coefficient = factor·η^eta·λ^lmbda·n^n·m^m, from the base setting and each doubled."""

    base: float
    factor: float
    exponents: dict[str, float]

    def integer(self) -> bool:
        return all(abs(e - round(e)) < 0.05 for e in self.exponents.values())

    def is_(self, eta: int, lmbda: int, n: int, m: int) -> bool:
        wanted = {"eta": eta, "lmbda": lmbda, "n": n, "m": m}
        return self.integer() and all(round(self.exponents[k]) == v for k, v in wanted.items())


def scaling(base: float, doubled: dict[str, float]) -> Scaling:
    exponents = {}
    for name, value in doubled.items():
        exponents[name] = math.log2(value / base) if value * base > 0 else float("nan")
    rounded = {k: round(v) if not math.isnan(v) else 0 for k, v in exponents.items()}
    denominator = math.prod(BASE[k] ** e for k, e in rounded.items())
    return Scaling(base, base / denominator, exponents)


@dataclass
class RegularizationProbe:
    weights: StepFit
    biases: StepFit
    weight_scalings: dict[str, Scaling] = field(default_factory=dict)
    """For each of a, b, c present in the weights' step."""
    bias_scalings: dict[str, Scaling] = field(default_factory=dict)
    through_gradients: bool = False
    """Measured with the real gradient method (the penalty, or part of it, is added there)."""
    layers: list[StepFit] = field(default_factory=list)
    """The weights' step of each weight layer alone, in the base setting."""


def probe_regularization(learner: Learner, protocol: GradientProtocol) -> RegularizationProbe:
    """The penalty's step with zero data gradients; with the real gradient method (λ against
    λ = 0) instead when that finds a different step: the penalty sits in the gradients."""
    alone = regularization_fits(learner, protocol, through_gradients=False)
    real = regularization_fits(learner, protocol, through_gradients=True, names=("base",))
    if _same_step(alone["base"], real["base"]) or _cleaner(alone["base"], real["base"]):
        return _probe_from(alone, through_gradients=False)
    real = regularization_fits(learner, protocol, through_gradients=True)
    return _probe_from(real, through_gradients=True)


def regularization_fits(
    learner: Learner,
    protocol: GradientProtocol,
    through_gradients: bool,
    names: tuple[str, ...] = ("base", "eta", "lmbda", "n", "m"),
) -> dict[str, dict[str, StepFit]]:
    """For the base setting and each of η, λ, n, m doubled, the fitted step per parameter
    kind: with zero data gradients, or as update(λ) − update(λ = 0) with the real ones."""
    real = getattr(learner.instance, learner.gradient_name)

    def zeros(*arguments, **keywords):
        return rebuild(
            protocol.structure, [np.zeros_like(leaf) for leaf in leaves(protocol.structure)]
        )

    fits = {}
    for name in names:
        setting = dict(BASE)
        if name != "base":
            setting[name] *= 2
        if through_gradients:
            before, after = run_update(learner, setting, real)
            _, without = run_update(learner, dict(setting, lmbda=0.0), real)
            after = [b + (a - w) for b, a, w in zip(before, after, without)]
        else:
            before, after = run_update(learner, setting, zeros)
        fits[name] = {
            kind: fit_step(
                [b for b, p in zip(before, learner.parameters) if p.kind == kind],
                [a for a, p in zip(after, learner.parameters) if p.kind == kind],
            )
            for kind in ("weight", "bias")
        }
        fits[name]["layers"] = [
            fit_step([b], [a])
            for b, a, p in zip(before, after, learner.parameters)
            if p.kind == "weight"
        ]
    return fits


def _cleaner(alone: dict, real: dict) -> bool:
    """The step with zero data gradients is a clean rule — for every weight layer alone,
    since layers may be regularized differently — and the real-gradient difference is not:
    a penalty applied between gradient calls (inside the loop over the examples) or after
    the data step moves what the difference sees, which only blurs it."""
    layers = alone["layers"]
    clean = all(fit.residual < 1e-4 for fit in layers)
    blurred = max(fit.residual for fit in real["layers"]) if real["layers"] else 0.0
    changes = any(fit.changes for fit in layers)
    return changes and clean and blurred > max(1e-3, 10 * max(f.residual for f in layers))


def _same_step(alone: dict[str, StepFit], real: dict[str, StepFit]) -> bool:
    """The two measurements of the base step agree (to 10 %, as the data step may push a
    few weights across a threshold of a nonlinear penalty step)."""
    for kind in ("weight", "bias"):
        x = np.array([getattr(alone[kind], c) for c in "abc"])
        y = np.array([getattr(real[kind], c) for c in "abc"])
        if np.abs(x - y).max() > 0.1 * max(np.abs(x).max(), np.abs(y).max()):
            return False
    return True


def _probe_from(fits: dict[str, dict[str, StepFit]], through_gradients: bool):
    probe = RegularizationProbe(
        fits["base"]["weight"],
        fits["base"]["bias"],
        through_gradients=through_gradients,
        layers=fits["base"]["layers"],
    )
    for kind, target in (("weight", probe.weight_scalings), ("bias", probe.bias_scalings)):
        for coefficient in ("a", "b", "c"):
            base = getattr(fits["base"][kind], coefficient)
            if base != 0.0:
                target[coefficient] = scaling(
                    base,
                    {k: getattr(fits[k][kind], coefficient) for k in ("eta", "lmbda", "n", "m")},
                )
    return probe


# -- the data step ----------------------------------------------------------------------------
@dataclass
class DataProbe:
    ratio: float
    """The measured data step divided by the correct −(η/m)·Σ∇C_x (1 when right)."""
    residual: float
    spread: bool
    """The step is the same for every weight of a parameter (a mean spread over it)."""
    per_example: bool
    gradient_is_sum: bool
    by_kind: dict[str, tuple[float, float]] = field(default_factory=dict)
    """(ratio, residual) for the weights and for the biases apart."""


def probe_data_step(learner: Learner, protocol: GradientProtocol) -> DataProbe:
    rng = np.random.default_rng(7)
    returned: list[list[np.ndarray]] = []

    def known(*arguments, **keywords):
        arrays = [rng.normal(size=leaf.shape) for leaf in leaves(protocol.structure)]
        returned.append(arrays)
        return rebuild(protocol.structure, arrays)

    setting = dict(BASE, lmbda=0.0)
    before, after = run_update(learner, setting, known)
    per_example = protocol.calls_per_update > 1
    sums = (
        [True] * len(protocol.leaf_parameter)
        if per_example
        else batch_gradient_is_sum(learner, protocol)
    )
    m, eta = setting["m"], setting["eta"]
    expected = [np.zeros_like(b) for b in before]
    for arrays in returned:
        for leaf, parameter, is_sum in zip(arrays, protocol.leaf_parameter, sums):
            scale = eta / m if is_sum else eta
            expected[parameter] += -scale * leaf.reshape(expected[parameter].shape)
    measured = [a - b for a, b in zip(after, before)]
    ratio, residual = _ratio(measured, expected)
    by_kind = {}
    for kind in ("weight", "bias"):
        chosen = [i for i, p in enumerate(learner.parameters) if p.kind == kind]
        if chosen:
            by_kind[kind] = _ratio([measured[i] for i in chosen], [expected[i] for i in chosen])
    spread = all(
        np.ptp(d) < 1e-12 * max(1.0, float(np.abs(d).max())) and np.abs(d).max() > 0
        for d in measured
    )
    return DataProbe(ratio, residual, spread, per_example, all(sums), by_kind)


def _ratio(measured: list[np.ndarray], expected: list[np.ndarray]) -> tuple[float, float]:
    """The factor k fitting measured ≈ k·expected, and the relative residual."""
    x = np.concatenate([e.ravel() for e in expected])
    y = np.concatenate([d.ravel() for d in measured])
    k = float(np.dot(y, x) / max(np.dot(x, x), 1e-300))
    return k, float(np.linalg.norm(y - k * x) / max(np.linalg.norm(y), 1e-300))


# -- the cost function ------------------------------------------------------------------------
@dataclass
class CostProbe:
    penalty: float
    lambda_exponent: float
    evaluated_size_exponent: float
    n_exponent: float | None
    """None when the cost function takes no n."""
    weight_exponent: float
    """2 for an L2 penalty Σw², 1 for L1 Σ|w|."""
    biases_penalized: bool
    scale: float
    """K in λ/(2K)·Σw² (or λ/K·Σ|w|): should be n."""
    n_given: int | None


def probe_cost(learner: Learner) -> CostProbe | None:
    """None when there is no cost function the doctor can call."""
    if learner.cost is None:
        return None
    try:
        parameters = inspect.signature(learner.cost).parameters
    except (TypeError, ValueError):
        return None
    n_name = next((p for p in parameters if p in ARGUMENT_NAMES["n"]), None)
    lambda_name = next((p for p in parameters if p in ARGUMENT_NAMES["lmbda"]), None)
    if lambda_name is None:
        return None
    data = learner.make_batch(COST_EXAMPLES, np.random.default_rng(3))
    twice = learner.make_batch(2 * COST_EXAMPLES, np.random.default_rng(3))

    def penalty(lmbda, examples, n, weight_scale=1.0, bias_scale=1.0):
        values = set_parameters(learner, seed=5)
        for parameter, value in zip(learner.parameters, values):
            factor = weight_scale if parameter.kind == "weight" else bias_scale
            parameter.set(learner.instance, value * factor)

        def cost(lam):
            keywords = {lambda_name: lam}
            if n_name:
                keywords[n_name] = n
            return float(learner.cost(examples, **keywords))

        with quietly():
            return cost(lmbda) - cost(0.0)

    lmbda, n = BASE["lmbda"], BASE["n"]
    try:
        base = penalty(lmbda, data, n)
        by_lambda = penalty(2 * lmbda, data, n)
        by_size = penalty(lmbda, twice, n)
        by_n = penalty(lmbda, data, 2 * n) if n_name else None
        by_weights = penalty(lmbda, data, n, weight_scale=2.0)
        by_biases = penalty(lmbda, data, n, bias_scale=2.0)
    except Exception:  # noqa: BLE001 - a cost function with another protocol: not probed
        return None
    if abs(base) < 1e-15:
        return CostProbe(0.0, 0.0, 0.0, None, 0.0, False, math.inf, n if n_name else None)

    def exponent(value):
        return math.log2(value / base) if value / base > 0 else float("nan")

    weight_exponent = exponent(by_weights)
    biases_penalized = abs(by_biases - base) > 1e-9 * abs(base)
    penalized = ("weight", "bias") if biases_penalized else ("weight",)
    arrays = [
        a
        for a, p in zip(set_parameters(learner, seed=5), learner.parameters)
        if p.kind in penalized
    ]
    if round(weight_exponent) == 1:
        scale = lmbda * sum(float(np.abs(a).sum()) for a in arrays) / base
    else:
        scale = lmbda * sum(float((a**2).sum()) for a in arrays) / (2 * base)
    return CostProbe(
        base,
        exponent(by_lambda),
        exponent(by_size),
        exponent(by_n) if by_n is not None else None,
        weight_exponent,
        biases_penalized,
        scale,
        n if n_name else None,
    )
