"""The catalogue of known mistakes: from what the probes measured to findings a learner
understands — the rule found as a formula, the correct rule, the fix and what follows in
numbers. Consequences are computed for the book's MNIST setting."""

from __future__ import annotations

import ast
import inspect
import io
import math
import textwrap
import tokenize
from dataclasses import dataclass, field, replace

from nnreg.doctor.measure import (
    COST_EXAMPLES,
    CostProbe,
    DataProbe,
    RegularizationProbe,
    Scaling,
)
from nnreg.doctor.replay import Learner
from nnreg.doctor.roles import ROLE_NAMES

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
    affects: str = "training"
    """What a mistake changes: ``training`` (the update) or ``reported cost`` (only the cost
    the learner prints; training is not affected)."""


@dataclass
class Diagnosis:
    learner: str
    regularizer: str
    """What the learner's code is meant to do: l2, l1, elastic-net or none."""
    rule_found: str
    correct_rule: str
    findings: list[Finding]
    notes: list[str] = field(default_factory=list)
    """How the doctor had to call the learner's code (μ set to 0, λ set on the object, …)."""

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
        return f"{s.base:.4g} (at the doctor's setting; no simple power law in η, λ, n, m)"
    numerator = "".join(
        symbol + ("" if e == 1 else f"^{e}")
        for symbol, e in (
            ("m·", round(s.exponents["m"])),
            ("n·", round(s.exponents["n"])),
            ("η", round(s.exponents["eta"])),
            ("λ", round(s.exponents["lmbda"])),
        )
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
    """The coefficient in the book's setting (as measured, when it follows no power law)."""
    if not s.integer():
        return s.base
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
    parts.append(f"− {_data_text(data, 'weight')}")
    rule = "w ← " + " ".join(parts)
    b = probe.bias_scalings
    bias = _decay_text(b["a"]) + "·b" if "a" in b else "b"
    return f"{rule},   b ← {bias} − {_data_text(data, 'bias')}"


def _decay_text(s: Scaling) -> str:
    """``(1 − ηλ/n)``, or ``(1 + ηλ/n)`` for a negative coefficient."""
    text = coefficient_text(s)
    return f"(1 + {text[1:]})" if text.startswith("−") else f"(1 − {text})"


def _data_text(data: DataProbe | None, kind: str | None = None) -> str:
    if data is None:
        return "(η/m)·Σ∇C_x"
    if data.spread:
        return "(η/m)·mean over the layer of Σ∇C_x"
    ratio = data.by_kind[kind][0] if _kinds_differ(data) and kind in data.by_kind else data.ratio
    for value, text in (
        (1, "(η/m)·Σ∇C_x"),
        (data.setting["m"], "η·Σ∇C_x"),
        (1 / data.setting["m"], "(η/m²)·Σ∇C_x"),
    ):
        if math.isclose(ratio, value, rel_tol=1e-3):
            return text
    return f"{ratio:.3g}·(η/m)·Σ∇C_x"


def _kinds_differ(data: DataProbe) -> bool:
    """The weights' data step and the biases' are scaled differently."""
    ratios = [ratio for ratio, _ in data.by_kind.values()]
    return len(ratios) == 2 and not math.isclose(ratios[0], ratios[1], rel_tol=1e-3)


# -- diagnosis --------------------------------------------------------------------------------
def diagnose_measurements(
    learner: Learner,
    probe: RegularizationProbe,
    data: DataProbe | None,
    cost: CostProbe | None,
    intended: str | None = None,
) -> Diagnosis:
    regularizer = intended or _intended(probe, cost)
    lmbda_names = [learner.update_argument("lmbda") or "", *ROLE_NAMES["lmbda"]]
    update_lines = _lines(learner.update, lmbda_names)
    findings: list[Finding] = []
    if probe.through_gradients:
        gradients = learner.hook.real() if learner.hook else None
        update_lines = sorted(set(update_lines + _lines(gradients, lmbda_names)))
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
    loops = frozenset(in_loop_lines(learner.update))
    by_layer = _layer_findings(probe, update_lines)
    findings += by_layer or _weight_findings(probe, regularizer, update_lines, loops)
    findings += _bias_findings(probe, update_lines)
    if data is not None:
        eta_names = [learner.update_argument("eta") or "", *ROLE_NAMES["eta"]]
        findings += _data_findings(data, _lines(learner.update, eta_names))
    if cost is not None:
        mismatch = _mismatch(probe, cost, learner)
        if mismatch is not None:
            regularizer = _update_form(probe)
            findings.append(mismatch)
        else:
            findings += _cost_findings(cost, regularizer, learner)
    rule = _rule_text(probe, data)
    if by_layer:  # one pooled rule would describe no layer
        rule = f"{by_layer[0].found},   data step: − {_data_text(data, 'weight')}"
    return Diagnosis(
        f"{learner.source}:{learner.name}",
        regularizer,
        rule,
        CORRECT[regularizer],
        findings,
    )


def _update_form(probe: RegularizationProbe) -> str | None:
    """The regularizer the update's step has: a decay (l2), a sign step (l1), both."""
    w = probe.weight_scalings
    if "a" in w and "b" in w:
        return "elastic-net"
    if "b" in w:
        return "l1"
    if "a" in w:
        return "l2"
    return None


def _cost_form(cost: CostProbe) -> str | None:
    """The regularizer the cost's penalty has: Σw² (l2) or Σ|w| (l1)."""
    if cost.penalty == 0 or cost.weight_exponent != cost.weight_exponent:
        return None
    return {2: "l2", 1: "l1"}.get(round(cost.weight_exponent))


def _mismatch(probe: RegularizationProbe, cost: CostProbe, learner: Learner) -> Finding | None:
    """The update applies one regularizer and the cost reports another — typically the L1
    exercise done in the update with the book's L2 cost left in place. (L1 written as a
    decay is its own finding, ``l1-as-decay``.)"""
    update, reported = _update_form(probe), _cost_form(cost)
    if update is None or reported is None or update == reported:
        return None
    if update == "l2" and reported == "l1":
        return None  # reported as l1-as-decay: the cost tells what was meant
    if update == "elastic-net":
        return None
    name = learner.cost_name
    return Finding(
        "update-cost-mismatch",
        "mistake",
        f"The update applies {update.upper()} but {name} reports an {reported.upper()} penalty",
        f"update: {'a sign step −(ηλ/n)·sgn(w)' if update == 'l1' else 'a decay (1 − ηλ/n)·w'}; "
        f"{name}: {'(λ/2n)·Σw²' if reported == 'l2' else '(λ/n)·Σ|w|'}",
        f"make {name}'s penalty {CORRECT_PENALTY[update]} to match the update (or change the "
        f"update back to {reported.upper()}, if that is what you meant)",
        "the cost you print is not the one the update minimizes: it cannot tell you whether "
        f"{update.upper()} regularization works",
        _lines(learner.cost, _cost_lambda_names(learner)),
        affects="reported cost",
    )


def _cost_lambda_names(learner: Learner) -> list[str]:
    try:
        parameters = inspect.signature(learner.cost).parameters
    except (TypeError, ValueError):
        return []
    return [p for p in parameters if p in ROLE_NAMES["lmbda"]]


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


class LineNumber(int):
    """A line number that knows its file (the learner's code may span several)."""

    file: str = ""

    def __new__(cls, number: int, file: str) -> LineNumber:
        line = super().__new__(cls, number)
        line.file = file
        return line


def _lines(function, names: list[str]) -> list[tuple[int, str]]:
    """The lines of ``function`` whose *code* uses one of ``names`` (never a docstring, a
    string or a comment, nor the ``def`` line), as (line number, text); each number knows
    its file."""
    try:
        source, start = inspect.getsourcelines(function)
        file = inspect.getsourcefile(function) or ""
    except (OSError, TypeError):
        return []
    numbers = {
        start + offset for offset in _code_lines_using(textwrap.dedent("".join(source)), names)
    }
    definition = next(
        (i for i, line in enumerate(source) if line.lstrip().startswith(("def ", "async def "))), 0
    )
    return [
        (LineNumber(start + offset, file), line.rstrip())
        for offset, line in enumerate(source)
        if start + offset in numbers and offset != definition
    ]


def _code_lines_using(source: str, names: list[str]) -> set[int]:
    """0-based numbers of the lines where a NAME token is one of ``names``."""
    wanted = set(names)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return set()
    return {t.start[0] - 1 for t in tokens if t.type == tokenize.NAME and t.string in wanted}


def in_loop_lines(function) -> set[int]:
    """Line numbers (in the file) inside the body of a ``for`` or ``while`` loop of
    ``function``: a penalty written there is added once per example."""
    try:
        source, start = inspect.getsourcelines(function)
        tree = ast.parse(textwrap.dedent("".join(source)))
    except (OSError, TypeError, SyntaxError):
        return set()
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.While)):
            for statement in node.body:
                for inner in ast.walk(statement):
                    if hasattr(inner, "lineno"):
                        lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return {start - 1 + line for line in lines}


def _scaling_findings(
    s: Scaling, term: str, what: str, lines, loop_lines: frozenset = frozenset()
) -> list[Finding]:
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
    if s.is_(1, 1, -1, 0) and math.isclose(s.factor, 0.5, rel_tol=1e-3):
        return [
            Finding(
                "half-penalty-step",
                "mistake",
                f"The {what} is half the right size",
                f"{found}; correct: {right}",
                f"use {right}: the derivative of (λ/2n)·Σw² is (λ/n)·w — the ½ cancels "
                "against the 2 of w², so no ½ is left in the step"
                if term == "·w"
                else f"use {right}",
                f"λ acts as {BOOK['lmbda'] / 2:g} instead of {BOOK['lmbda']:g} ({SETTING}): "
                "half the regularization you asked for",
                lines,
            )
        ]
    if s.is_(1, 1, -1, 1) and math.isclose(s.factor, 1, rel_tol=0.05):
        looped = [line for line in lines if line[0] in loop_lines] or lines
        return [
            Finding(
                "penalty-in-example-loop",
                "mistake",
                "The penalty step is applied once per example: m times per mini-batch",
                f"{what}: about m·{right[0:]} per mini-batch; correct: {right}",
                "move the penalty line out of the loop over the mini-batch (dedent it), so it "
                "is applied once per update",
                f"the penalty acts {BOOK['m']}× as strongly as intended ({SETTING}: λ acts as "
                f"{BOOK['m'] * BOOK['lmbda']:g}), and changes with the mini-batch size",
                looped,
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


def _weight_findings(
    probe: RegularizationProbe, regularizer: str, lines, loop_lines: frozenset = frozenset()
) -> list[Finding]:
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
            findings += _scaling_findings(w[term], symbol, what, lines, loop_lines)
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


def _layer_findings(probe: RegularizationProbe, lines) -> list[Finding]:
    """The weight layers do not get the same penalty step (e.g. only the last one decays):
    measured layer by layer, as a multiple of the correct step ηλ/n."""
    if len(probe.layers) < 2 or any(fit.residual > 1e-3 for fit in probe.layers):
        return []  # a step of no known form: compared as a whole (unrecognized-step)
    setting = probe.setting
    step = setting["eta"] * setting["lmbda"] / setting["n"]
    steps = [(fit.a / step, fit.b / step) for fit in probe.layers]
    if all(
        math.isclose(x, y, rel_tol=0.05, abs_tol=0.01)
        for first in steps[:1]
        for other in steps[1:]
        for x, y in zip(first, other)
    ):
        return []
    described = "; ".join(
        f"layer {number}: {_layer_step_text(a, b)}" for number, (a, b) in enumerate(steps, start=1)
    )
    return [
        Finding(
            "layers-regularized-differently",
            "mistake",
            "The weight layers are not regularized alike: the penalty step differs between them",
            described,
            "apply the same penalty step to every weight layer (loop over all of self.weights, "
            "not one of them): w ← (1 − ηλ/n)·w for each",
            "the layers' weights drift apart in scale — a layer without the penalty keeps "
            "growing while the others shrink — and the penalty your cost reports is not the one "
            "applied",
            lines,
        )
    ]


def _layer_step_text(a: float, b: float) -> str:
    """One layer's penalty step, in units of the correct ηλ/n."""
    parts = []
    if abs(a) > 1e-6:
        parts.append(f"w ← (1 − {_nice(a)}·ηλ/n)·w".replace("(1 − 1·ηλ/n)", "(1 − ηλ/n)"))
    if abs(b) > 1e-6:
        parts.append(f"w ← w − {_nice(b)}·(ηλ/n)·sgn(w)".replace(" 1·(ηλ/n)", " (ηλ/n)"))
    return " and ".join(parts) or "no penalty"


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
    """Mistakes in the data step; for the weights and the biases apart when they differ."""
    if data.spread or not _kinds_differ(data):
        return _data_step_findings(data, lines)
    findings = []
    for kind, plural, other_kind, other in (
        ("weight", "Weights", "bias", "biases"),
        ("bias", "Biases", "weight", "weights"),
    ):
        ratio, residual = data.by_kind[kind]
        right = math.isclose(data.by_kind[other_kind][0], 1, rel_tol=1e-3)
        own = [line for line in lines if other not in line[1].lower()] or lines
        for finding in _data_step_findings(replace(data, ratio=ratio, residual=residual), own):
            symbol = kind[0]
            finding.title = f"{plural}: {finding.title[0].lower()}{finding.title[1:]}"
            finding.found = (
                finding.found.replace("w ← w", f"{symbol} ← {symbol}")
                + f"; the {other}' step, {other[0]} ← {other[0]} − "
                + f"{_data_text(data, other_kind)}, is {'right' if right else 'wrong too'}"
            )
            finding.fix = finding.fix.replace("w ← w", f"{symbol} ← {symbol}")
            findings.append(finding)
    return findings


def _data_step_findings(data: DataProbe, lines) -> list[Finding]:
    m = data.setting["m"]
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
                f"w ← w − {data.ratio:.4g}·(η/m)·Σ∇C_x"
                + (
                    f" (and only {1 - data.residual:.0%} of the step follows the gradient)"
                    if data.residual > 1e-3
                    else ""
                ),
                "w ← w − (η/m)·Σ∇C_x: the data step is η times the *mean* gradient",
                f"the learning rate applied is {data.ratio:.4g}× the one you set ({SETTING}: "
                f"η = {BOOK['eta']:g} acts as {BOOK['eta'] * data.ratio:.4g})",
                lines,
            )
        ]
    return []


def _cost_findings(cost: CostProbe, regularizer: str, learner: Learner) -> list[Finding]:
    """Mistakes in the penalty the cost function reports; they change what the learner
    reads, not how the network trains."""
    findings = _cost_penalty_findings(cost, regularizer, learner)
    if cost.biases_penalized:
        findings.append(
            Finding(
                "cost-penalizes-biases",
                "mistake",
                f"{learner.cost_name} includes the biases in the penalty",
                "penalty changes when only the biases change",
                "sum over the weights only",
                "the reported penalty is not the one of the book's rule",
                _lines(learner.cost, _cost_lambda_names(learner)),
            )
        )
    for finding in findings:
        finding.affects = "reported cost"
    return findings


def _cost_penalty_findings(cost: CostProbe, regularizer: str, learner: Learner) -> list[Finding]:
    name = learner.cost_name
    lines = _lines(learner.cost, _cost_lambda_names(learner))
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
    l1 = round(cost.weight_exponent) == 1
    symbol, half = ("Σ|w|", 1) if l1 else ("Σw²", 2)
    looped = [line for line in lines if line[0] in in_loop_lines(learner.cost)]
    if looped:
        return [
            Finding(
                "cost-penalty-in-loop",
                "mistake",
                f"{name} adds the penalty inside the loop over the examples: once per example",
                f"penalty = len(data) × {_per_example_text(cost, symbol, half)}",
                f"move the penalty line out of the loop (dedent it) so it is added once, as "
                f"{right} with n the training-set size",
                "on the 10,000 test images the penalty is added 10,000 times: the reported "
                "cost is dominated by it and grows with the data set's size",
                looped,
            )
        ]
    if math.isclose(cost.evaluated_size_exponent, -1, abs_tol=0.05):
        constant = cost.scale / COST_EXAMPLES
        if (
            learner.unit.full_batch
            and cost.n_exponent is None
            and math.isclose(constant, 1, rel_tol=1e-3)
        ):
            return []  # every step uses all the data: the size of the data given is n
        twice = (
            ""
            if math.isclose(constant, 1, rel_tol=1e-3)
            else (
                f"; the constant is also wrong ({half * constant:g} instead of {half}"
                + (": the ½ is applied twice)" if math.isclose(constant, 2, rel_tol=1e-3) else ")")
            )
        )
        return [
            Finding(
                "cost-uses-evaluated-size",
                "mistake",
                f"{name}'s penalty is divided by the size of the evaluated data, not by n",
                f"penalty = λ/({_number(half * constant)}·len(data))·{symbol}{twice}",
                f"divide by n, the training-set size, whatever data is evaluated: {right}"
                + ("" if not twice else f" — exactly {right}, with one ½"),
                f"on the 10,000 test images the penalty is {BOOK['n'] // 10_000}× too large "
                f"(n = {BOOK['n']:,}): the test 'regularized cost' can grow while the network "
                "improves. The book's own network2.py has this formula (total_cost divides by "
                "len(data)); training is not affected, only the cost reported for the "
                "validation and test data"
                + (f", and here it is also {constant:g}× too small" if twice else ""),
                lines,
            )
        ]
    if cost.n_exponent is None or not math.isclose(cost.n_exponent, -1, abs_tol=0.05):
        uses_n = (
            ""
            if cost.n_exponent is None
            else f" and does not depend on the n it is given ({cost.n_given})"
        )
        return [
            Finding(
                "cost-fixed-scale",
                "mistake",
                f"{name}'s penalty is divided by a fixed number, not by n",
                f"penalty = λ/({_number(half * cost.scale)})·{symbol}{uses_n}",
                f"divide by n, the training-set size: {right}"
                " — if that number is your mini-batch size, this is the λ/m mistake",
                f"the penalty is n/{cost.scale:.4g} = {BOOK['n'] / cost.scale:,.0f}× too large "
                f"for n = {BOOK['n']:,}",
                lines,
            )
        ]
    if not math.isclose(cost.scale, cost.n_given, rel_tol=1e-3):
        ratio = cost.scale / cost.n_given
        return [
            Finding(
                "cost-penalty-scale",
                "mistake",
                f"{name}'s penalty has the wrong constant",
                f"penalty = λ/({_number(half * ratio)}·n)·{symbol}"
                + (": the ½ is applied twice" if math.isclose(ratio, 2, rel_tol=1e-3) else ""),
                f"use {right}",
                f"the reported penalty is {1 / ratio:.3g}× the one the update minimizes",
                lines,
            )
        ]
    return []


def _per_example_text(cost: CostProbe, symbol: str, half: int) -> str:
    """The penalty the looped line adds each time, e.g. ``(λ/2n)·Σw²``."""
    each = cost.scale * COST_EXAMPLES
    if cost.n_given and math.isclose(each, cost.n_given, rel_tol=1e-3):
        return f"(λ/{'2' if half == 2 else ''}n)·{symbol}"
    return f"λ/({_number(half * each)})·{symbol}"


def _number(value: float) -> str:
    return f"{round(value)}" if math.isclose(value, round(value), rel_tol=1e-6) else f"{value:.4g}"


def render(diagnosis: Diagnosis) -> str:
    """The diagnosis as a learner reads it: rule found, correct rule, then each finding."""
    verdict = _verdict(diagnosis.mistakes)
    lines = [
        f"nnreg doctor: {diagnosis.learner} — {verdict}",
        "",
        f"Regularizer: {diagnosis.regularizer}",
        f"Rule found:   {diagnosis.rule_found}",
        f"Correct rule: {diagnosis.correct_rule}",
        "(n = training-set size, m = mini-batch size)",
    ]
    for finding in diagnosis.findings:
        label = "note"
        if finding.kind == "mistake":
            label = "MISTAKE" if finding.affects == "training" else "MISTAKE in the reported cost"
        lines += ["", f"[{label}] {finding.title}", f"  found:       {finding.found}"]
        if finding.lines:
            lines.append("  line(s) to change:")
            lines += [f"    {number:>4} | {text.strip()}" for number, text in finding.lines]
        if finding.fix:
            lines.append(f"  fix:         {finding.fix}")
        if finding.consequence:
            lines.append(f"  consequence: {finding.consequence}")
    if diagnosis.notes:
        lines += ["", "How the doctor called your code:"]
        lines += [f"  - {note}" for note in diagnosis.notes]
    return "\n".join(lines)


def _verdict(mistakes: list[Finding]) -> str:
    """``2 mistakes found: 1 changes training, 1 only the reported cost``."""
    if not mistakes:
        return "no mistake found"
    total = f"{len(mistakes)} mistake{'s' * (len(mistakes) != 1)} found"
    in_cost = sum(f.affects == "reported cost" for f in mistakes)
    if in_cost == 0:
        return f"{total}, changing training"
    if in_cost == len(mistakes):
        return f"{total}, only in the reported cost (training is not affected)"
    return f"{total}: {len(mistakes) - in_cost} changing training, {in_cost} only the reported cost"
