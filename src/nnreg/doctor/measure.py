"""Measuring what the learner's update does, with controlled weights (see
:mod:`~nnreg.doctor.replay`) and, when the gradient computation could be found, controlled
data gradients.

* **Regularization step**: the gradient computation is replaced by one that returns zeros,
  so the update can only apply its penalty. A penalty added inside the gradient computation
  is invisible to that probe, so the step is also measured with the real gradients as the
  difference between an update with λ and the same update with λ = 0 (the data part
  cancels); when the two disagree — or when the gradients are computed inline and cannot be
  replaced — the latter is the rule. Each parameter's change d = w − w′ is fitted as
  d = a·w + b·sgn(w) + c over weights well away from zero (a: multiplicative decay, b: L1
  shrink, c: a shift shared by all weights), and the tiny weights show whether an L1 shrink
  crosses zero or stops at it. Repeating with η, λ, n and m each doubled gives how a, b, c
  scale: k·η^i·λ^j·n^k·m^l. A training loop run for one epoch has n = m with one
  mini-batch; n is doubled by giving it two mini-batches (two steps, measured as their
  sum), and m — with n — by one mini-batch twice as large.
* **Data step** (λ = 0): the gradient computation returns known random arrays; the change
  must be −(η/m)·Σ_x ∇C_x. When it takes the whole batch, calling the real one on the batch
  and on the batch doubled tells whether it returns a sum or a mean. Without a gradient
  computation to replace, the update is run on a mini-batch and on the same examples twice
  over: a mean over the batch gives the same step, a sum twice the step.
* **Cost**: the penalty is cost(λ) − cost(0), measured while λ, the evaluated set's size,
  n (when the cost takes it) and the weights' scale are doubled.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field

import numpy as np

from nnreg.doctor.gradients import (
    BASE,
    GradientProtocol,
    base_setting,
    batch_gradient_is_sum,
    replaced_gradients,
)
from nnreg.doctor.layouts import Examples, arranged, resized_batch
from nnreg.doctor.parameters import leaves
from nnreg.doctor.replay import (
    TINY,
    Learner,
    quietly,
    run_update,
    set_parameters,
)
from nnreg.doctor.roles import ROLE_NAMES

LARGE = 0.05
COST_EXAMPLES = 8
"""How many examples the cost function is evaluated on (and twice as many)."""


# -- the regularization step -----------------------------------------------------------------
@dataclass
class StepFit:
    """d = a·w + b·sgn(w) + c fitted over one kind of parameter (weights or biases)."""

    a: float
    b: float
    c: float
    residual: float
    crosses_zero: bool | None  # for an L1 shrink: do tiny weights end on the other side?
    points: int = 0
    """How many weights the fit was made on (those far enough from zero): a layer of two or
    three cannot tell a decay from a sign step and a shift."""
    c_known: bool = True
    """False when the arrays' signs balance (mean(sgn(w)) = 0): a shift by c·mean(sgn(w))
    is then zero, whatever c."""
    terms: int = 0
    """How many terms (a, b, shifts) the fit needed."""

    @property
    def determined(self) -> bool:
        """Enough weights for the rule found to be the only one: more than one beyond the
        terms it uses (a layer of three weights fits any a, b and shift exactly)."""
        return self.points >= 6 or self.points > self.terms + 1

    @property
    def changes(self) -> bool:
        return any(abs(v) > 1e-12 for v in (self.a, self.b, self.c))


def fit_step(before: list[np.ndarray], after: list[np.ndarray], steps: int = 1) -> StepFit:
    """Fit d = w − w′ as a·w + b·sgn(w) + c_j, with one shift c_j per array j (a mean
    over an array shifts all of its elements alike). ``c`` is reported as c_j/mean(sgn(w_j))
    for the array whose weights' mean sign is largest, so it scales like the penalty. Over
    ``steps`` steps, the one step that repeated gives them: (1 − a)^steps, steps·b."""
    if not before:
        return StepFit(0.0, 0.0, 0.0, 0.0, None)
    w = np.concatenate([b.ravel() for b in before])
    new = np.concatenate([a.ravel() for a in after])
    owner = np.concatenate([np.full(b.size, j) for j, b in enumerate(before)])
    d = w - new
    large = np.abs(w) >= LARGE
    indicators = (owner[large, None] == np.arange(len(before))[None, :]).astype(float)
    design = np.column_stack([w[large], np.sign(w[large]), indicators])
    solution, residual = _simplest_fit(design, d[large])
    if steps > 1:
        solution[0] = 1 - (1 - solution[0]) ** (1 / steps) if solution[0] < 1 else solution[0]
        solution[1:] = solution[1:] / steps
    a, b, shifts = float(solution[0]), float(solution[1]), solution[2:]
    mean_signs = np.array([np.mean(np.sign(x)) for x in before])
    j = int(np.argmax(np.abs(mean_signs)))
    c = float(shifts[j] / mean_signs[j]) if np.any(shifts) and mean_signs[j] != 0 else 0.0
    crosses = None
    tiny = ~large
    if b > 10 * TINY and tiny.any():
        crosses = bool(np.mean(np.sign(new[tiny]) == -np.sign(w[tiny])) > 0.5)
    known = bool(mean_signs[j] != 0)
    terms = int(np.count_nonzero(solution))
    return StepFit(a, b, c, residual, crosses, int(large.sum()), known, terms)


def _simplest_fit(design: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, float]:
    """The coefficients of the simplest rule that fits the step exactly — a·w alone, b·sgn(w)
    alone, both, then with the shifts — among those the points determine (a layer of three
    weights cannot tell a from b and a shift); else the fullest determined one. Returns the
    solution over all columns (zeros for those left out) and its relative residual."""
    scale = float(np.linalg.norm(d))
    subsets = ([0], [1], [0, 1], list(range(design.shape[1])))
    fits = []
    for columns in subsets:
        if len(columns) > len(d):
            continue
        part, *_ = np.linalg.lstsq(design[:, columns], d, rcond=None)
        solution = np.zeros(design.shape[1])
        solution[columns] = part
        solution[np.abs(solution) < 1e-13] = 0.0
        residual = float(np.linalg.norm(design @ solution - d)) / scale if scale > 1e-12 else 0.0
        fits.append((solution, residual))
    if not fits:
        return np.zeros(design.shape[1]), 0.0
    fullest = fits[-1][1]
    if fullest > 1e-3:  # no rule of this form: the closest one, to say how far it is
        return fits[-1]
    # the simplest rule as good as the fullest: more terms only fitting noise are left out
    return next(fit for fit in fits if fit[1] < 1e-9 or fit[1] <= 1.5 * fullest + 1e-12)


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


def scaling(base: float, doubled: dict[str, float], setting: dict | None = None) -> Scaling:
    """The power law through the base value and the values with η, λ, n, m each doubled;
    the factor is read at ``setting`` (the base setting the values were measured in)."""
    setting = setting or BASE
    exponents = {}
    for name, value in doubled.items():
        exponents[name] = math.log2(value / base) if value * base > 0 else float("nan")
    rounded = {k: round(v) if not math.isnan(v) else 0 for k, v in exponents.items()}
    denominator = math.prod(setting[k] ** e for k, e in rounded.items())
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
    setting: dict = field(default_factory=lambda: dict(BASE))
    """The base setting the steps were measured in."""
    inline: bool = False
    """The gradients are computed inline (nothing to replace): measured through the update."""


def probe_regularization(
    learner: Learner, protocol: GradientProtocol | None
) -> RegularizationProbe:
    """The penalty's step with zero data gradients; with the real gradients (λ against
    λ = 0) instead when that finds a different step — the penalty sits in the gradients —
    or when there is no gradient computation to replace."""
    if protocol is None:
        real = regularization_fits(learner, None, through_gradients=True)
        probe = _probe_from(real, False, base_setting(learner), _shares_m(learner))
        probe.inline = True
        return probe
    alone = regularization_fits(learner, protocol, through_gradients=False)
    real = regularization_fits(learner, protocol, through_gradients=True, names=("base",))
    setting = base_setting(learner)
    if _same_step(alone["base"], real["base"]) or _cleaner(alone["base"], real["base"]):
        return _probe_from(alone, False, setting, _shares_m(learner))
    real = regularization_fits(learner, protocol, through_gradients=True)
    return _probe_from(real, True, setting, _shares_m(learner))


def _shares_m(learner: Learner) -> bool:
    """A training loop with mini-batches: its m doubled doubles n too."""
    return learner.unit.kind == "epoch" and not learner.unit.full_batch


def regularization_fits(
    learner: Learner,
    protocol: GradientProtocol | None,
    through_gradients: bool,
    names: tuple[str, ...] = ("base", "eta", "lmbda", "n", "m"),
) -> dict[str, dict[str, StepFit]]:
    """For the base setting and each of η, λ, n, m doubled, the fitted step per parameter
    kind: with zero data gradients, or as update(λ) − update(λ = 0) with the real ones. A
    training loop's n doubled is two mini-batches: its step is the two steps' sum, halved."""

    gradient = learner.hook.real() if learner.hook else None

    def zeros(*arguments, **keywords):
        real = gradient(*arguments, **keywords)
        mapped = [leaf for leaf, p in zip(leaves(real), protocol.leaf_parameter) if p is not None]
        return replaced_gradients(real, protocol, [np.zeros_like(leaf) for leaf in mapped])

    fits = {}
    for name in names:
        setting = _doubled(learner, name)
        if setting is None:
            continue
        steps = setting["n"] // setting["m"] if learner.unit.kind == "epoch" else 1
        if through_gradients:
            before, after = run_update(learner, setting, None)
            _, without = run_update(learner, dict(setting, lmbda=0.0), None)
            after = [b + (a - w) for b, a, w in zip(before, after, without)]
        else:
            before, after = run_update(learner, setting, zeros)
        fits[name] = {
            kind: fit_step(
                [b for b, p in zip(before, learner.parameters) if p.kind == kind],
                [a for a, p in zip(after, learner.parameters) if p.kind == kind],
                steps,
            )
            for kind in ("weight", "bias")
        }
        fits[name]["layers"] = [
            fit_step([b], [a], steps)
            for b, a, p in zip(before, after, learner.parameters)
            if p.kind == "weight"
        ]
    return fits


def _doubled(learner: Learner, name: str) -> dict | None:
    """The base setting with ``name`` doubled. For a training loop, n doubled keeps m (two
    mini-batches), m doubled doubles n too (one mini-batch twice as large); with no
    mini-batch size to set (every step uses all the data) only the data's size is doubled."""
    setting = base_setting(learner)
    if name == "base":
        return setting
    if learner.unit.kind != "epoch" or name in ("eta", "lmbda"):
        return dict(setting, **{name: setting[name] * 2})
    if learner.unit.full_batch:
        return dict(setting, n=setting["n"] * 2, m=setting["m"] * 2) if name == "n" else None
    if name == "n":
        return dict(setting, n=setting["n"] * 2)
    return dict(setting, n=setting["n"] * 2, m=setting["m"] * 2)


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
    """The two measurements of the base step agree (to 10 % of the largest coefficient, as
    the data step may push a few weights across a threshold of a nonlinear penalty step,
    and the weights' coefficients set the scale of what is negligible for the biases)."""
    pairs = [
        (getattr(alone[kind], c), getattr(real[kind], c))
        for kind in ("weight", "bias")
        for c in "abc"
    ]
    scale = max(max(abs(x), abs(y)) for x, y in pairs)
    return all(abs(x - y) <= 0.1 * scale + 1e-15 for x, y in pairs)


def _probe_from(fits: dict, through_gradients: bool, setting: dict, shares_m: bool = False):
    probe = RegularizationProbe(
        fits["base"]["weight"],
        fits["base"]["bias"],
        through_gradients=through_gradients,
        layers=fits["base"]["layers"],
        setting=setting,
    )
    for kind, target in (("weight", probe.weight_scalings), ("bias", probe.bias_scalings)):
        for coefficient in ("a", "b", "c"):
            base = getattr(fits["base"][kind], coefficient)
            if base == 0.0:
                continue
            doubled = {k: getattr(fits[k][kind], coefficient) for k in fits if k != "base"}
            if "m" not in doubled:  # all the data in every step: m is n
                doubled["m"] = base
            elif shares_m:  # a training loop's m doubled doubled n too: take n's share out
                doubled["m"] = doubled["m"] * base / doubled["n"] if doubled["n"] else 0.0
            target[coefficient] = scaling(base, doubled, setting)
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
    setting: dict = field(default_factory=lambda: dict(BASE))
    inline: bool = False
    """Measured through the update alone (the gradients are computed inline): only the
    step's scale in m is known."""


def probe_data_step(learner: Learner, protocol: GradientProtocol | None) -> DataProbe:
    """The data step against the correct −(η/m)·Σ∇C_x: with known gradients in place of
    the learner's, or — with no gradient computation to replace — how the step changes when
    every example of the mini-batch is given twice (see :func:`_data_step_by_duplicates`)."""
    if protocol is None:
        return _data_step_by_duplicates(learner)
    rng = np.random.default_rng(7)
    returned: list[list[np.ndarray]] = []
    mapped = [p for p in protocol.leaf_parameter if p is not None]

    gradient = learner.hook.real()

    def known(*arguments, **keywords):
        real = gradient(*arguments, **keywords)
        own = [leaf for leaf, p in zip(leaves(real), protocol.leaf_parameter) if p is not None]
        arrays = [rng.normal(size=leaf.shape) for leaf in own]
        returned.append(arrays)
        return replaced_gradients(real, protocol, arrays)

    setting = dict(base_setting(learner), lmbda=0.0)
    before, after = run_update(learner, setting, known)
    per_example = protocol.calls_per_update > 1
    sums = [True] * len(mapped) if per_example else batch_gradient_is_sum(learner, protocol)
    m, eta = setting["m"], setting["eta"]
    expected = [np.zeros_like(b) for b in before]
    for arrays in returned:
        for leaf, parameter, is_sum in zip(arrays, mapped, sums):
            scale = eta / m if is_sum else eta
            expected[parameter] += -scale * leaf.reshape(expected[parameter].shape)
    measured = [a - b for a, b in zip(after, before)]
    return _data_probe(learner, measured, expected, per_example, all(sums))


def _data_probe(learner, measured, expected, per_example: bool, is_sum: bool) -> DataProbe:
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
    return DataProbe(ratio, residual, spread, per_example, is_sum, by_kind, base_setting(learner))


def _data_step_by_duplicates(learner: Learner) -> DataProbe:
    """With the gradients computed inline, the data step's scale in m: the update (λ = 0)
    on m examples, then on the same m examples each given twice. The mean over a
    mini-batch gives the same step, a sum twice the step, a mean divided by m again half
    of it: step ∝ m^k, measured relative to the right (η/m)·Σ∇C_x, so the ratio is 1, m or
    1/m. Whether the gradient itself is right cannot be told without replacing it."""
    setting = dict(base_setting(learner), lmbda=0.0)
    m = setting["m"]
    batch, twice = _duplicated_batches(learner, m)
    before, once = run_update(learner, setting, None, batch=batch)
    doubled = dict(setting, m=2 * m, n=2 * m if learner.unit.kind == "epoch" else setting["n"])
    _, again = run_update(learner, doubled, None, batch=twice)
    single = [a - b for a, b in zip(once, before)]
    double = [a - b for a, b in zip(again, before)]
    factor, residual = _ratio(double, single)
    exponent = math.log2(factor) if factor > 0 else 0.0
    ratio = m ** round(exponent) if abs(exponent - round(exponent)) < 0.05 else 1.0
    expected = [d / ratio for d in single]
    probe = _data_probe(learner, single, expected, False, round(exponent) >= 1)
    probe.inline = True
    return probe


def _duplicated_batches(learner: Learner, m: int):
    """A mini-batch of m examples, and the same examples each given twice (in order)."""
    if learner.recorded_batch is not None:
        once = resized_batch(learner.recorded_batch, m)
        return once, resized_batch(once, 2 * m)
    data = learner.examples(m, np.random.default_rng(1))
    twice = Examples(np.vstack([data.inputs] * 2), np.vstack([data.targets] * 2))
    return arranged(data, learner.unit.layout), arranged(twice, learner.unit.layout)


def _names(function) -> list[str]:
    try:
        return list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return []


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
    if learner.cost is None or learner.cost_call is None:
        return None
    takes_n = any(p in ROLE_NAMES["n"] for p in _names(learner.cost))
    data = learner.make_batch(COST_EXAMPLES, np.random.default_rng(3))
    twice = learner.make_batch(2 * COST_EXAMPLES, np.random.default_rng(3))

    def penalty(lmbda, examples, n, weight_scale=1.0, bias_scale=1.0):
        values = set_parameters(learner, seed=5)
        for parameter, value in zip(learner.parameters, values):
            factor = weight_scale if parameter.kind == "weight" else bias_scale
            parameter.set(learner.root, value * factor)
        with quietly():
            return learner.cost_call(examples, lmbda, n) - learner.cost_call(examples, 0.0, n)

    n_name = takes_n or None
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
