"""The catalogue of known mistakes: from what the probes measured to findings a learner
understands — the rule found as a formula, the correct rule, the fix and what follows in
numbers. Consequences are computed for the book's MNIST setting."""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field

from nnreg.doctor.loading import ARGUMENT_NAMES, Learner
from nnreg.doctor.probes import BASE, CostProbe, DataProbe, RegularizationProbe, Scaling

BOOK = {"eta": 0.5, "lmbda": 5.0, "n": 50_000, "m": 10}
"""The book's setting, used to put numbers on each consequence."""
SETTING = "for the book's η = 0.5, λ = 5.0, n = 50,000, m = 10"
CORRECT = {
    "l2": "w ← (1 − ηλ/n)·w − (η/m)·Σ∇C_x,   b ← b − (η/m)·Σ∇C_x",
    "l1": "w ← w − (ηλ/n)·sgn(w) − (η/m)·Σ∇C_x (or the soft-threshold: shrink |w| by ηλ/n, "
    "stopping at 0),   b ← b − (η/m)·Σ∇C_x",
    "elastic-net": "w ← (1 − ηλ₂/n)·w − (ηλ₁/n)·sgn(w) − (η/m)·Σ∇C_x,   b ← b − (η/m)·Σ∇C_x",
    "none": "w ← w − (η/m)·Σ∇C_x,   b ← b − (η/m)·Σ∇C_x",
}
CORRECT_PENALTY = {
    "l2": "(λ/2n)·Σw²",
    "l1": "(λ/n)·Σ|w|",
    "elastic-net": "(λ₁/n)·Σ|w| + (λ₂/2n)·Σw²",
}


@dataclass
class Finding:
    """One thing the doctor found: a ``mistake`` (exit 1) or a ``note``."""

    code: str
    kind: str
    title: str
    found: str
    fix: str = ""
    consequence: str = ""
    lines: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class Diagnosis:
    learner: str
    regularizer: str
    """What the learner's code is meant to do: l2, l1, elastic-net or none."""
    rule_found: str
    correct_rule: str
    findings: list[Finding]

    @property
    def mistakes(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == "mistake"]

    @property
    def exit_code(self) -> int:
        return 1 if self.mistakes else 0


# -- formulas ---------------------------------------------------------------------------------
def coefficient_text(s: Scaling) -> str:
    """``ηλ/n``, ``2·ηλ/n``, ``λ/m``, … from a measured scaling."""
    if not s.integer():
        return f"{s.base:.4g} (at η = 0.5, λ = 5, n = 1000, m = 10; no simple power law)"
    numerator = "".join(
        symbol + ("" if e == 1 else f"^{e}")
        for symbol, e in (("η", round(s.exponents["eta"])), ("λ", round(s.exponents["lmbda"])))
        if e > 0
    )
    denominator = "·".join(
        symbol + ("" if -e == 1 else f"^{-e}")
        for symbol, e in (("n", round(s.exponents["n"])), ("m", round(s.exponents["m"])))
        if e < 0
    )
    text = (numerator or "1") + (f"/{denominator}" if denominator else "")
    factor = _nice(s.factor)
    if factor == "1":
        return text
    if factor == "-1":
        return f"−{text}"
    return f"{factor}·{text}"


def _nice(value: float) -> str:
    for candidate in (1, -1, 2, -2, 0.5, -0.5, 3, 4):
        if math.isclose(value, candidate, rel_tol=1e-3):
            return f"{candidate:g}"
    return f"{value:.4g}"


def book_value(s: Scaling) -> float:
    exponents = {k: round(v) for k, v in s.exponents.items()}
    return s.factor * math.prod(BOOK[k] ** e for k, e in exponents.items())


def _rule_text(probe: RegularizationProbe, data: DataProbe | None) -> str:
    w = probe.weight_scalings
    parts = []
    if "a" in w:
        parts.append(_decay_text(w["a"]) + "·w")
    else:
        parts.append("w")
    if "b" in w:
        stop = " (stopping at 0)" if probe.weights.crosses_zero is False else ""
        parts.append(f"− {coefficient_text(w['b'])}·sgn(w){stop}")
    if "c" in w:
        parts.append(f"− {coefficient_text(w['c'])}·mean(sgn(w))")
    parts.append(f"− {_data_text(data)}")
    rule = "w ← " + " ".join(parts)
    b = probe.bias_scalings
    bias = _decay_text(b["a"]) + "·b" if "a" in b else "b"
    return f"{rule},   b ← {bias} − {_data_text(data)}"


def _decay_text(s: Scaling) -> str:
    """``(1 − ηλ/n)``, or ``(1 + ηλ/n)`` for a negative coefficient."""
    text = coefficient_text(s)
    return f"(1 + {text[1:]})" if text.startswith("−") else f"(1 − {text})"


def _data_text(data: DataProbe | None) -> str:
    if data is None:
        return "(η/m)·Σ∇C_x"
    if data.spread:
        return "(η/m)·mean over the layer of Σ∇C_x"
    for ratio, text in (
        (1, "(η/m)·Σ∇C_x"),
        (BASE["m"], "η·Σ∇C_x"),
        (1 / BASE["m"], "(η/m²)·Σ∇C_x"),
    ):
        if math.isclose(data.ratio, ratio, rel_tol=1e-3):
            return text
    return f"{data.ratio:.3g}·(η/m)·Σ∇C_x"


# -- diagnosis --------------------------------------------------------------------------------
def diagnose_measurements(
    learner: Learner,
    probe: RegularizationProbe,
    data: DataProbe | None,
    cost: CostProbe | None,
    intended: str | None = None,
) -> Diagnosis:
    regularizer = intended or _intended(probe, cost)
    update_lines = _lines(learner.update, [learner.update_arguments["lmbda"]])
    findings: list[Finding] = []
    if probe.through_gradients:
        gradients = getattr(learner.instance, learner.gradient_name)
        names = [learner.update_arguments["lmbda"], *ARGUMENT_NAMES["lmbda"]]
        update_lines = sorted(set(update_lines + _lines(gradients, names)))
        findings.append(
            Finding(
                "penalty-in-gradients",
                "note",
                f"The penalty is added inside {learner.gradient_name}, the gradient method",
                "measured from your real update as the step with λ minus the same step "
                "with λ = 0 (the data part cancels)",
                "nothing, if the rule below is right: adding (λ/n)·w to ∂C/∂w is the same "
                "rule as the decay (1 − ηλ/n)·w",
            )
        )
    findings += _weight_findings(probe, regularizer, update_lines)
    findings += _bias_findings(probe, update_lines)
    if data is not None:
        findings += _data_findings(data, _lines(learner.update, [learner.update_arguments["eta"]]))
    if cost is not None:
        findings += _cost_findings(cost, regularizer, learner)
    return Diagnosis(
        f"{learner.source}:{learner.name}",
        regularizer,
        _rule_text(probe, data),
        CORRECT[regularizer],
        findings,
    )


def _intended(probe: RegularizationProbe, cost: CostProbe | None) -> str:
    if cost is not None and cost.penalty != 0 and cost.weight_exponent == cost.weight_exponent:
        return {2: "l2", 1: "l1"}.get(round(cost.weight_exponent), "l2")
    w = probe.weight_scalings
    if "a" in w and "b" in w:
        return "elastic-net"
    if "b" in w or "c" in w:
        return "l1"
    if "a" in w:
        return "l2"
    return "none"


def _lines(function, names: list[str]) -> list[tuple[int, str]]:
    try:
        source, start = inspect.getsourcelines(function)
    except (OSError, TypeError):
        return []
    return [
        (start + offset, line.rstrip())
        for offset, line in enumerate(source)
        if any(name in line for name in names) and not line.lstrip().startswith(("def ", "#"))
    ]


def _scaling_findings(s: Scaling, term: str, what: str, lines) -> list[Finding]:
    """Mistakes in how one penalty term scales with η, λ, n and m."""
    found = f"{what}: {coefficient_text(s)}{term}"
    right = f"ηλ/n{term}"
    correct_step = BOOK["eta"] * BOOK["lmbda"] / BOOK["n"]
    step = book_value(s)
    times = abs(step) / correct_step
    if s.is_(1, 1, -1, 0) and math.isclose(s.factor, 1, rel_tol=1e-3):
        return []
    if s.integer() and s.factor < 0:
        growth = math.exp(abs(step) * BOOK["n"] / BOOK["m"])
        return [
            Finding(
                "wrong-sign",
                "mistake",
                "The penalty has the wrong sign: it pushes weights away from zero",
                found,
                f"subtract the penalty term: use {right}, not +",
                f"weights grow by about ×{growth:.3g} per epoch instead of shrinking "
                f"({SETTING}); the cost diverges",
                lines,
            )
        ]
    if s.is_(1, 1, 0, -1) and math.isclose(s.factor, 1, rel_tol=1e-3):
        steps = BOOK["n"] / BOOK["m"]
        epoch = f"10^{steps * math.log10(1 - step):.0f}" if step < 1 else "0 or less"
        return [
            Finding(
                "lambda-over-m",
                "mistake",
                "λ is divided by the mini-batch size m instead of the training-set size n",
                found,
                "divide by n, the number of training examples, not by len(mini_batch): "
                f"use {right}",
                f"λ is divided by m = {BOOK['m']} instead of n = {BOOK['n']:,}: the weights "
                f"shrink about {times:,.0f}× faster per step than intended ({SETTING}); one "
                f"epoch multiplies them by {epoch} — they decay to nothing, which is "
                "why accuracy sits near 10%",
                lines,
            )
        ]
    if s.is_(1, 1, -1, 0) and math.isclose(s.factor, 2, rel_tol=1e-3):
        return [
            Finding(
                "penalty-twice",
                "mistake",
                "The penalty is applied twice (in the gradient and again as a decay)",
                found,
                f"keep one of the two: either add (λ/n)·w to the gradient or multiply by "
                f"(1 − ηλ/n), not both; the step must be {right}",
                f"the effective λ is doubled ({SETTING}: λ acts as {2 * BOOK['lmbda']:g})",
                lines,
            )
        ]
    if s.is_(0, 1, -1, 0):
        return [
            Finding(
                "no-eta",
                "mistake",
                "The penalty step is not multiplied by the learning rate η",
                found,
                f"multiply the penalty's step by η: {right}",
                f"the penalty acts {times:.3g}× as strongly as intended ({SETTING}: "
                f"1/η = {1 / BOOK['eta']:g}), and changing η no longer changes it",
                lines,
            )
        ]
    if s.is_(1, 1, -1, -1):
        return [
            Finding(
                "penalty-over-n-and-m",
                "mistake",
                "The penalty is divided by m as well as by n",
                found,
                "add (λ/n)·w to the *averaged* gradient, or add λ/n·w per example before "
                f"dividing the sum by m — the step must be {right}",
                f"the penalty is {1 / times:,.0f}× weaker than intended ({SETTING}): "
                "regularization has almost no effect",
                lines,
            )
        ]
    if s.is_(1, 1, 0, 0):
        return [
            Finding(
                "lambda-not-divided",
                "mistake",
                "λ is not divided by the training-set size n",
                found,
                f"divide by n: {right}",
                f"the step is {times:,.0f}× the intended one ({SETTING}): ηλ = "
                f"{step:g} per step, so weights shrink to nothing or flip sign every step",
                lines,
            )
        ]
    return [
        Finding(
            "unexpected-scaling",
            "mistake",
            "The penalty step scales in an unexpected way",
            found,
            f"the step should be {right}",
            f"{times:.3g}× the intended step ({SETTING})",
            lines,
        )
    ]


def _weight_findings(probe: RegularizationProbe, regularizer: str, lines) -> list[Finding]:
    w = probe.weight_scalings
    findings = []
    if probe.weights.residual > 1e-3:
        findings.append(
            Finding(
                "unrecognized-step",
                "mistake",
                "The penalty step is none of w·(1 − c), w − c·sgn(w) or a mix of them",
                f"with zero data gradient, d = w − w′ fits a·w + b·sgn(w) + c only to "
                f"{probe.weights.residual:.1%}",
                "write the step as one of the rules below",
                "the penalty being minimized is not the one in your cost",
                lines,
            )
        )
        return findings
    if regularizer in ("l1", "elastic-net") and "a" in w and "b" not in w and "c" not in w:
        findings.append(
            Finding(
                "l1-as-decay",
                "mistake",
                "L1 is implemented as a multiplicative decay (that is L2's step)",
                f"w ← {_decay_text(w['a'])}·w",
                "L1's step subtracts a constant amount toward zero: w ← w − (ηλ/n)·sgn(w) "
                "(np.sign), or the soft-threshold that stops at zero",
                "a multiplicative decay shrinks large weights fastest and never makes a weight "
                "exactly zero: it minimizes an L2 penalty while your cost reports an L1 one",
                lines,
            )
        )
    if "c" in w:
        findings.append(
            Finding(
                "l1-averaged",
                "mistake",
                "The L1 term is averaged over the weights: every weight moves by the same amount",
                f"w ← w − {coefficient_text(w['c'])}·mean(sgn(w))",
                "apply sgn element by element, without np.mean: w ← w − (ηλ/n)·sgn(w)",
                "positive and negative weights are pushed the same way, so the penalty drags "
                "the whole layer instead of shrinking each weight toward zero; with as many "
                "positive as negative weights it does almost nothing",
                lines,
            )
        )
    for term, symbol in (("a", "·w"), ("b", "·sgn(w)")):
        if term in w and not (term == "a" and regularizer == "l1"):
            what = "decay step" if term == "a" else "L1 step"
            findings += _scaling_findings(w[term], symbol, what, lines)
    if "b" in w and probe.weights.crosses_zero is not None and w["b"].factor > 0:
        if probe.weights.crosses_zero:
            findings.append(
                Finding(
                    "l1-crosses-zero",
                    "note",
                    "L1 by subgradient: a weight smaller than the step crosses zero",
                    "w ← w − (ηλ/n)·sgn(w) applied whatever |w|",
                    "nothing, this is the book's rule; use the soft-threshold "
                    "(sgn(w)·max(|w| − ηλ/n, 0)) if you want exact zeros",
                    "weights near zero oscillate around it and are exactly zero only by "
                    "accident: no sparsity",
                )
            )
        else:
            findings.append(
                Finding(
                    "l1-stops-at-zero",
                    "note",
                    "L1 by soft-threshold (proximal): the shrink stops at zero",
                    "w ← sgn(w)·max(|w| − ηλ/n, 0)",
                    "nothing",
                    "weights the data do not hold away from zero become exactly 0: sparse weights",
                )
            )
    if regularizer != "none" and not w:
        findings.append(
            Finding(
                "no-penalty-in-update",
                "mistake",
                "The update applies no penalty at all",
                "with zero data gradient the weights do not change",
                f"add the penalty's step: {CORRECT[regularizer]}",
                "the network trains unregularized whatever λ is",
                lines,
            )
        )
    return findings


def _bias_findings(probe: RegularizationProbe, lines) -> list[Finding]:
    if not probe.biases.changes:
        return []
    b = probe.bias_scalings
    formula = f"b ← {_decay_text(b['a'])}·b" if "a" in b else "b changes with zero data gradient"
    factor = math.exp(-book_value(b["a"]) * BOOK["n"] / BOOK["m"]) if "a" in b else None
    per_epoch = f" (×{factor:.2f} per epoch, {SETTING})" if factor is not None else ""
    return [
        Finding(
            "bias-decay",
            "mistake",
            "The biases are regularized too",
            formula,
            "leave the biases out of the penalty: b ← b − (η/m)·Σ∇C_x",
            f"the biases are pulled toward zero{per_epoch}; they set each unit's threshold "
            "and do not cause overfitting, so decaying them only costs accuracy",
            lines,
        )
    ]


def _data_findings(data: DataProbe, lines) -> list[Finding]:
    m = BASE["m"]
    if data.spread:
        return [
            Finding(
                "gradient-mean-spread",
                "mistake",
                "The mini-batch gradient is averaged over all the weights of a layer",
                "w ← w − (η/m)·mean(Σ∇C_x) — the same step for every weight",
                "average over the examples only (divide the summed gradient by m), "
                "never np.mean over the gradient array",
                "every weight of a layer moves by the same amount, so the network cannot "
                "learn which inputs matter: accuracy stays near chance",
                lines,
            )
        ]
    if math.isclose(data.ratio, m, rel_tol=1e-3):
        return [
            Finding(
                "gradient-not-averaged",
                "mistake",
                "The data gradient is summed over the mini-batch, not averaged",
                "w ← w − η·Σ∇C_x",
                "divide the summed gradient by m = len(mini_batch): w ← w − (η/m)·Σ∇C_x",
                f"steps are m× too large ({SETTING}: like η = {BOOK['eta'] * BOOK['m']:g}); "
                "training is unstable or diverges",
                lines,
            )
        ]
    if math.isclose(data.ratio, 1 / m, rel_tol=1e-3):
        return [
            Finding(
                "gradient-averaged-twice",
                "mistake",
                "The data gradient is divided by m twice",
                "w ← w − (η/m²)·Σ∇C_x",
                "divide by m once: if your gradient method already returns the mean, do not "
                "divide it again",
                f"steps are m× too small ({SETTING}: like η = {BOOK['eta'] / BOOK['m']:g}); "
                "training crawls",
                lines,
            )
        ]
    if not math.isclose(data.ratio, 1, rel_tol=1e-3) or data.residual > 1e-3:
        return [
            Finding(
                "data-step-scale",
                "mistake",
                "The data step is not −(η/m)·Σ∇C_x",
                f"{data.ratio:.4g}·(η/m)·Σ∇C_x (fit residual {data.residual:.1%})",
                "w ← w − (η/m)·Σ∇C_x",
                "the learning rate you set is not the one applied",
                lines,
            )
        ]
    return []


def _cost_findings(cost: CostProbe, regularizer: str, learner: Learner) -> list[Finding]:
    name = learner.cost_name
    lambda_names = [
        p for p in inspect.signature(learner.cost).parameters if p in ARGUMENT_NAMES["lmbda"]
    ]
    lines = _lines(learner.cost, lambda_names)
    right = CORRECT_PENALTY.get(regularizer, "(λ/2n)·Σw²")
    if cost.penalty == 0:
        if regularizer == "none":
            return []
        return [
            Finding(
                "cost-no-penalty",
                "mistake",
                f"{name} reports no penalty",
                f"{name}(data, λ) − {name}(data, 0) = 0",
                f"add the penalty {right} (n = the training-set size) to the data cost",
                "the reported cost is the data cost only, not what the update minimizes",
                lines,
            )
        ]
    findings = []
    symbol = "Σ|w|" if round(cost.weight_exponent) == 1 else "Σw²"
    half = "" if symbol == "Σ|w|" else "2·"
    if math.isclose(cost.evaluated_size_exponent, -1, abs_tol=0.05):
        findings.append(
            Finding(
                "cost-uses-evaluated-size",
                "mistake",
                f"{name}'s penalty is divided by the size of the evaluated data, not by n",
                f"penalty = λ/({half}len(data))·{symbol}",
                f"divide by n, the training-set size, whatever data is evaluated: {right}",
                f"on the 10,000 test images the penalty is {BOOK['n'] // 10_000}× too large "
                f"(n = {BOOK['n']:,}): the test 'regularized cost' can grow while the "
                "network improves",
                lines,
            )
        )
    elif cost.n_exponent is None or not math.isclose(cost.n_exponent, -1, abs_tol=0.05):
        uses_n = (
            ""
            if cost.n_exponent is None
            else f" and does not depend on the n it is given ({cost.n_given})"
        )
        findings.append(
            Finding(
                "cost-fixed-scale",
                "mistake",
                f"{name}'s penalty is divided by a fixed number, not by n",
                f"penalty = λ/({half}{cost.scale:.4g})·{symbol}{uses_n}",
                f"divide by n, the training-set size: {right}"
                + (" — if that number is your mini-batch size, this is the λ/m mistake"),
                f"the penalty is n/{cost.scale:.4g} = {BOOK['n'] / cost.scale:,.0f}× too large "
                f"for n = {BOOK['n']:,}",
                lines,
            )
        )
    elif not math.isclose(cost.scale, cost.n_given, rel_tol=1e-3):
        findings.append(
            Finding(
                "cost-penalty-scale",
                "mistake",
                f"{name}'s penalty has the wrong constant",
                f"penalty = λ/({half}·{cost.scale / cost.n_given:.3g}·n)·{symbol}",
                f"use {right}",
                "the reported penalty does not match the one the update minimizes",
                lines,
            )
        )
    if cost.biases_penalized:
        findings.append(
            Finding(
                "cost-penalizes-biases",
                "mistake",
                f"{name} includes the biases in the penalty",
                "penalty changes when only the biases change",
                "sum over the weights only",
                "the reported penalty is not the one of the book's rule",
                lines,
            )
        )
    return findings


def render(diagnosis: Diagnosis) -> str:
    """The diagnosis as a learner reads it: rule found, correct rule, then each finding."""
    verdict = (
        f"{len(diagnosis.mistakes)} mistake{'s' * (len(diagnosis.mistakes) != 1)} found"
        if diagnosis.mistakes
        else "no mistake found"
    )
    lines = [
        f"nnreg doctor: {diagnosis.learner} — {verdict}",
        "",
        f"Regularizer: {diagnosis.regularizer}",
        f"Rule found:   {diagnosis.rule_found}",
        f"Correct rule: {diagnosis.correct_rule}",
        "(n = training-set size, m = mini-batch size)",
    ]
    for finding in diagnosis.findings:
        label = "MISTAKE" if finding.kind == "mistake" else "note"
        lines += ["", f"[{label}] {finding.title}", f"  found:       {finding.found}"]
        if finding.lines:
            lines.append("  line(s) to change:")
            lines += [f"    {number:>4} | {text.strip()}" for number, text in finding.lines]
        if finding.fix:
            lines.append(f"  fix:         {finding.fix}")
        if finding.consequence:
            lines.append(f"  consequence: {finding.consequence}")
    return "\n".join(lines)
