"""The catalogue of known mistakes, as data: one :class:`Row` per mistake (or note) — its
code, what it looks at, how it is recognized from the measurements, and what it says (title,
the rule found, the fix, the consequence in numbers for the book's setting). One loop
(:func:`findings`) reads the rows; a new mistake is a new row.

Rows look at one *subject* each, in the order below: the gradients, the layers, the weights'
step as a whole, each term of it (decay, L1 step: the first row that recognizes it says what
is wrong with it), the biases, the data step, the cost. Within an exclusive subject only the
first row that recognizes the facts speaks.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from nnreg.doctor.cost_catalogue import COST_ROWS
from nnreg.doctor.formulas import (
    CORRECT,
    book_value,
    coefficient_text,
    count,
    decay_text,
    layer_step_text,
)
from nnreg.doctor.report import Finding
from nnreg.doctor.rows import Facts, Row, finding_of, name_of


def findings(subject: str, facts: Facts, exclusive: bool = False) -> list[Finding]:
    """The findings of the rows about ``subject`` that recognize ``facts``; with
    ``exclusive``, only the first."""
    found = []
    for row in ROWS:
        if row.subject != subject or not row.recognized(facts):
            continue
        found.append(finding_of(row, facts))
        if exclusive:
            break
    return found


# -- the recognitions: small and named ---------------------------------------------------------
def _term_is_right(f: Facts) -> bool:
    return f.scales(1, 1, -1, 0, 1)


def _wrong_sign(f: Facts) -> bool:
    return not _term_is_right(f) and f.scaling.integer() and f.scaling.factor < 0


def _unexpected(f: Facts) -> bool:
    return not _term_is_right(f)


def _growth(f: Facts) -> str:
    digits = abs(f.step) * f.setting["n"] / f.setting["m"] / math.log(10)
    growth = f"×{10**digits:.3g}" if digits < 6 else f"10^{digits:.0f}"
    return (
        f"weights grow by about {growth} per epoch instead of shrinking "
        f"({f.setting_text}); the cost diverges"
    )


def _over_m(f: Facts) -> str:
    steps = f.setting["n"] / f.setting["m"]
    digits = steps * math.log10(1 - f.step) if f.step < 1 else -math.inf
    if digits == -math.inf:
        epoch = "0 or less — they are wiped out at every step"
    elif digits < -3:
        epoch = f"10^{digits:.0f} — they decay to nothing, which is why accuracy sits near 10%"
    else:
        epoch = f"{10**digits:.3g} — far more regularization than the λ you chose"
    return (
        f"λ is divided by m = {count(f.setting['m'])} instead of n = {count(f.setting['n'])}: "
        f"the weights shrink about {f.times:,.0f}× faster per step than intended "
        f"({f.setting_text}); one epoch multiplies them by {epoch}"
    )


def _half_fix(f: Facts) -> str:
    if f.term == "·w":
        return (
            f"use {f.right}: the derivative of (λ/2n)·Σw² is (λ/n)·w — the ½ cancels against "
            "the 2 of w², so no ½ is left in the step"
        )
    return f"use {f.right}"


def _l1_as_decay(f: Facts) -> bool:
    w = f.probe.weight_scalings
    return f.regularizer in ("l1", "elastic-net") and "a" in w and "b" not in w and "c" not in w


def _l1_note(crosses: bool) -> Callable[[Facts], bool]:
    def recognized(f: Facts) -> bool:
        w = f.probe.weight_scalings
        return "b" in w and f.probe.weights.crosses_zero is crosses and w["b"].factor > 0

    return recognized


def _bias_formula(f: Facts) -> str:
    b = f.probe.bias_scalings
    return f"b ← {decay_text(b['a'])}·b" if "a" in b else "b changes with zero data gradient"


def _bias_consequence(f: Facts) -> str:
    b = f.probe.bias_scalings
    per_epoch = ""
    if "a" in b:
        factor = math.exp(-book_value(b["a"], f.setting) * f.setting["n"] / f.setting["m"])
        per_epoch = f" (×{factor:.2f} per epoch, {f.setting_text})"
    return (
        f"the biases are pulled toward zero{per_epoch}; they set each unit's threshold and do "
        "not cause overfitting, so decaying them only costs accuracy"
    )


def _layers_found(f: Facts) -> str:
    setting = f.probe.setting
    step = setting["eta"] * setting["lmbda"] / setting["n"]
    return "; ".join(
        f"layer {number}: "
        + (
            layer_step_text(fit.a / step, fit.b / step, fit.c / step)
            if fit.determined
            else "too few weights to tell"
        )
        for number, fit in enumerate(f.probe.layers, start=1)
    )


def _layers_differ(f: Facts) -> bool:
    layers = [fit for fit in f.probe.layers if fit.determined]
    if len(layers) < 2 or any(fit.residual > 1e-3 for fit in layers):
        return False  # a step of no known form: judged as a whole (unrecognized-step)
    setting = f.probe.setting
    step = setting["eta"] * setting["lmbda"] / setting["n"]
    steps = [(fit.a / step, fit.b / step, fit.c / step if fit.c_known else None) for fit in layers]
    return not all(
        math.isclose(x, y, rel_tol=0.05, abs_tol=0.01)
        for one, other in zip(steps, steps[1:])
        for x, y in zip(one, other)
        if x is not None and y is not None
    )


def _data_ratio(value: Callable[[Facts], float]) -> Callable[[Facts], bool]:
    return lambda f: not f.data.spread and math.isclose(f.ratio, value(f), rel_tol=1e-3)


def _data_off(f: Facts) -> bool:
    return not math.isclose(f.ratio, 1, rel_tol=1e-3) or f.residual > 1e-3


def _data_scale_found(f: Facts) -> str:
    followed = (
        f" (and only {1 - f.residual:.0%} of the step follows the gradient)"
        if f.residual > 1e-3
        else ""
    )
    return f"w ← w − {f.ratio:.4g}·(η/m)·Σ∇C_x{followed}"


UPDATE_ROWS: list[Row] = [
    # -- the gradients ------------------------------------------------------------------------
    Row(
        "penalty-in-gradients", "note", "gradients",
        lambda f: f.probe.through_gradients,
        lambda f: f"The penalty is added inside {name_of(f, 'gradients')}, the gradient method",
        "measured from your real update as the step with λ minus the same step with λ = 0 (the "
        "data part cancels)",
        "nothing, if the rule below is right: adding (λ/n)·w to ∂C/∂w is the same rule as the "
        "decay (1 − ηλ/n)·w",
        lines="none",
    ),
    # -- the weight layers ------------------------------------------------------------------
    Row(
        "layers-regularized-differently", "mistake", "layers", _layers_differ,
        "The weight layers are not regularized alike: the penalty step differs between them",
        _layers_found,
        "apply the same penalty step to every weight layer (loop over all of self.weights, not "
        "one of them): w ← (1 − ηλ/n)·w for each",
        "the layers' weights drift apart in scale — a layer without the penalty keeps growing "
        "while the others shrink — and the penalty your cost reports is not the one applied",
    ),
    # -- the weights' step as a whole ---------------------------------------------------------
    Row(
        "unrecognized-step", "mistake", "form", lambda f: f.probe.weights.residual > 1e-3,
        "The penalty step is none of w·(1 − c), w − c·sgn(w) or a mix of them",
        lambda f: (
            "with zero data gradient, d = w − w′ fits a·w + b·sgn(w) + c only to "
            f"{f.probe.weights.residual:.1%}"
        ),
        "write the step as one of the rules below",
        "the penalty being minimized is not the one in your cost",
    ),
    Row(
        "l1-as-decay", "mistake", "weights", _l1_as_decay,
        "L1 is implemented as a multiplicative decay (that is L2's step)",
        lambda f: f"w ← {decay_text(f.probe.weight_scalings['a'])}·w",
        "L1's step subtracts a constant amount toward zero: w ← w − (ηλ/n)·sgn(w) (np.sign), or "
        "the soft-threshold that stops at zero",
        "a multiplicative decay shrinks large weights fastest and never makes a weight exactly "
        "zero: it minimizes an L2 penalty while your cost reports an L1 one",
    ),
    Row(
        "l1-averaged", "mistake", "weights", lambda f: "c" in f.probe.weight_scalings,
        "The L1 term is averaged over the weights: every weight moves by the same amount",
        lambda f: f"w ← w − {coefficient_text(f.probe.weight_scalings['c'])}·mean(sgn(w))",
        "apply sgn element by element, without np.mean: w ← w − (ηλ/n)·sgn(w)",
        "positive and negative weights are pushed the same way, so the penalty drags the whole "
        "layer instead of shrinking each weight toward zero; with as many positive as negative "
        "weights it does almost nothing",
    ),
    # -- one term of the step: how it scales with η, λ, n and m (first match) ------------------
    Row(
        "wrong-sign", "mistake", "term", _wrong_sign,
        "The penalty has the wrong sign: it pushes weights away from zero",
        lambda f: f.found,
        lambda f: f"subtract the penalty term: use {f.right}, not +",
        _growth,
    ),
    Row(
        "lambda-over-m", "mistake", "term", lambda f: f.scales(1, 1, 0, -1, 1),
        "λ is divided by the mini-batch size m instead of the training-set size n",
        lambda f: f.found,
        lambda f: (
            "divide by n, the number of training examples, not by len(mini_batch): "
            f"use {f.right}"
        ),
        _over_m,
    ),
    Row(
        "half-penalty-step", "mistake", "term", lambda f: f.scales(1, 1, -1, 0, 0.5),
        lambda f: f"The {f.what} is half the right size",
        lambda f: f"{f.found}; correct: {f.right}",
        _half_fix,
        lambda f: (
            f"λ acts as {f.setting['lmbda'] / 2:g} instead of {f.setting['lmbda']:g} "
            f"({f.setting_text}): half the regularization you asked for"
        ),
    ),
    Row(
        "penalty-in-example-loop", "mistake", "term",
        lambda f: f.scales(1, 1, -1, 1, 1, tolerance=0.05),
        "The penalty step is applied once per example: m times per mini-batch",
        lambda f: f"{f.what}: about m·{f.right} per mini-batch; correct: {f.right}",
        "move the penalty line out of the loop over the mini-batch (dedent it), so it is applied "
        "once per update",
        lambda f: (
            f"the penalty acts {count(f.setting['m'])}× as strongly as intended "
            f"({f.setting_text}: λ acts as {f.setting['m'] * f.setting['lmbda']:g}), and "
            "changes with the mini-batch size"
        ),
        lines="looped",
    ),
    Row(
        "penalty-twice", "mistake", "term", lambda f: f.scales(1, 1, -1, 0, 2),
        "The penalty is applied twice (in the gradient and again as a decay)",
        lambda f: f.found,
        lambda f: (
            "keep one of the two: either add (λ/n)·w to the gradient or multiply by (1 − ηλ/n), "
            f"not both; the step must be {f.right}"
        ),
        lambda f: (
            f"the effective λ is doubled ({f.setting_text}: λ acts as "
            f"{2 * f.setting['lmbda']:g})"
        ),
    ),
    Row(
        "no-eta", "mistake", "term", lambda f: f.scaling.is_(0, 1, -1, 0),
        "The penalty step is not multiplied by the learning rate η",
        lambda f: f.found,
        lambda f: f"multiply the penalty's step by η: {f.right}",
        lambda f: (
            f"the penalty acts {f.times:.3g}× as strongly as intended ({f.setting_text}: 1/η = "
            f"{1 / f.setting['eta']:g}), and changing η no longer changes it"
        ),
    ),
    Row(
        "penalty-over-n-and-m", "mistake", "term", lambda f: f.scaling.is_(1, 1, -1, -1),
        "The penalty is divided by m as well as by n",
        lambda f: f.found,
        lambda f: (
            "add (λ/n)·w to the *averaged* gradient, or add λ/n·w per example before dividing "
            f"the sum by m — the step must be {f.right}"
        ),
        lambda f: (
            f"the penalty is {1 / f.times:,.0f}× weaker than intended ({f.setting_text}): "
            "regularization has almost no effect"
        ),
    ),
    Row(
        "lambda-not-divided", "mistake", "term", lambda f: f.scaling.is_(1, 1, 0, 0),
        "λ is not divided by the training-set size n",
        lambda f: f.found,
        lambda f: f"divide by n: {f.right}",
        lambda f: (
            f"the step is {f.times:,.0f}× the intended one ({f.setting_text}): ηλ = {f.step:g} per "
            "step, so weights shrink to nothing or flip sign every step"
        ),
    ),
    Row(
        "unexpected-scaling", "mistake", "term", _unexpected,
        "The penalty step scales in an unexpected way",
        lambda f: f.found,
        lambda f: f"the step should be {f.right}",
        lambda f: f"{f.times:.3g}× the intended step ({f.setting_text})",
    ),
    # -- L1's step near zero, and no penalty at all -----------------------------------------
    Row(
        "l1-crosses-zero", "note", "l1", _l1_note(True),
        "L1 by subgradient: a weight smaller than the step crosses zero",
        "w ← w − (ηλ/n)·sgn(w) applied whatever |w|",
        "nothing, this is the book's rule; use the soft-threshold (sgn(w)·max(|w| − ηλ/n, 0)) "
        "if you want exact zeros",
        "weights near zero oscillate around it and are exactly zero only by accident: no "
        "sparsity",
        lines="none",
    ),
    Row(
        "l1-stops-at-zero", "note", "l1", _l1_note(False),
        "L1 by soft-threshold (proximal): the shrink stops at zero",
        "w ← sgn(w)·max(|w| − ηλ/n, 0)",
        "nothing",
        "weights the data do not hold away from zero become exactly 0: sparse weights",
        lines="none",
    ),
    Row(
        "no-penalty-in-update", "mistake", "l1",
        lambda f: f.regularizer != "none" and not f.probe.weight_scalings,
        "The update applies no penalty at all",
        "with zero data gradient the weights do not change",
        lambda f: f"add the penalty's step: {CORRECT[f.regularizer]}",
        "the network trains unregularized whatever λ is",
    ),
    # -- the biases --------------------------------------------------------------------------
    Row(
        "bias-decay", "mistake", "biases", lambda f: f.probe.biases.changes,
        "The biases are regularized too",
        _bias_formula,
        "leave the biases out of the penalty: b ← b − (η/m)·Σ∇C_x",
        _bias_consequence,
    ),
    # -- the data step (first match) ---------------------------------------------------------
    Row(
        "gradient-mean-spread", "mistake", "data", lambda f: f.data.spread,
        "The mini-batch gradient is averaged over all the weights of a layer",
        "w ← w − (η/m)·mean(Σ∇C_x) — the same step for every weight",
        "average over the examples only (divide the summed gradient by m), never np.mean over "
        "the gradient array",
        "every weight of a layer moves by the same amount, so the network cannot learn which "
        "inputs matter: accuracy stays near chance",
        lines="data",
    ),
    Row(
        "gradient-not-averaged", "mistake", "data", _data_ratio(lambda f: f.data.setting["m"]),
        "The data gradient is summed over the mini-batch, not averaged",
        "w ← w − η·Σ∇C_x",
        "divide the summed gradient by m = len(mini_batch): w ← w − (η/m)·Σ∇C_x",
        lambda f: (
            f"steps are m× too large ({f.setting_text}: like η = "
            f"{f.setting['eta'] * f.setting['m']:g}); training is unstable or diverges"
        ),
        lines="data",
    ),
    Row(
        "gradient-averaged-twice", "mistake", "data",
        _data_ratio(lambda f: 1 / f.data.setting["m"]),
        "The data gradient is divided by m twice",
        "w ← w − (η/m²)·Σ∇C_x",
        "divide by m once: if your gradient method already returns the mean, do not divide it "
        "again",
        lambda f: (
            f"steps are m× too small ({f.setting_text}: like η = "
            f"{f.setting['eta'] / f.setting['m']:g}); training crawls"
        ),
        lines="data",
    ),
    Row(
        "data-step-scale", "mistake", "data", _data_off,
        "The data step is not −(η/m)·Σ∇C_x",
        _data_scale_found,
        "w ← w − (η/m)·Σ∇C_x: the data step is η times the *mean* gradient",
        lambda f: (
            f"the learning rate applied is {f.ratio:.4g}× the one you set ({f.setting_text}: "
            f"η = {f.setting['eta']:g} acts as {f.setting['eta'] * f.ratio:.4g})"
        ),
        lines="data",
    ),
]  # fmt: skip


ROWS: list[Row] = UPDATE_ROWS + COST_ROWS
"""Every row of the catalogue, in the order they are read."""


def subjects_in_order() -> list[str]:
    """The subjects the rows look at, in the catalogue's order."""
    return list(dict.fromkeys(row.subject for row in ROWS))


def mistakes_known() -> dict[str, str]:
    """Every code of the catalogue, with its kind."""
    return {row.code: row.kind for row in ROWS}
