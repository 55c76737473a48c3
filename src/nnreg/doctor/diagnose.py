"""From what the probes measured to a diagnosis: the regularizer the code is meant to apply,
the rule found as a formula, and the findings of the catalogue (:mod:`~nnreg.doctor.catalogue`)
with the lines of the learner's code to change."""

from __future__ import annotations

import ast
import inspect
import io
import textwrap
import tokenize
from dataclasses import replace

from nnreg.doctor.catalogue import findings
from nnreg.doctor.cost_catalogue import penalty_symbols
from nnreg.doctor.formulas import CORRECT, data_text, kinds_differ, rule_text
from nnreg.doctor.measure import CostProbe, DataProbe, RegularizationProbe
from nnreg.doctor.places import LineNumber, statement_spans, statement_text
from nnreg.doctor.replay import Learner
from nnreg.doctor.report import Diagnosis, Finding
from nnreg.doctor.roles import ROLE_NAMES
from nnreg.doctor.rows import Facts
from nnreg.doctor.setting import completed, setting_text


def diagnose_measurements(
    learner: Learner,
    probe: RegularizationProbe,
    data: DataProbe | None,
    cost: CostProbe | None,
    intended: str | None = None,
) -> Diagnosis:
    regularizer = intended or intended_regularizer(probe, cost)
    facts = Facts(probe, data, cost, regularizer, _lines_to_quote(learner, probe), {})
    if learner.setting:
        facts.setting = completed(learner.setting)
        facts.setting_text = setting_text(learner.setting)
    facts.names = {"gradients": learner.gradient_name, "cost": learner.cost_name or "the cost"}
    facts.full_batch = learner.unit.full_batch
    found = findings("gradients", facts)
    by_layer = findings("layers", facts)
    found += by_layer or _weight_findings(facts)
    found += findings("biases", facts)
    if data is not None:
        found += _data_findings(facts)
    if cost is not None:
        regularizer = _cost_findings(facts, found)
    rule = rule_text(probe, data)
    if by_layer:  # one pooled rule would describe no layer
        rule = f"{by_layer[0].found},   data step: − {data_text(data, 'weight')}"
    learner_name = f"{learner.source}:{learner.name}"
    return Diagnosis(learner_name, regularizer, rule, CORRECT[regularizer], found)


def _weight_findings(facts: Facts) -> list[Finding]:
    """The weights' step: of no known form; else what it is, and each term's scaling."""
    unrecognized = findings("form", facts)
    if unrecognized:
        return unrecognized
    found = findings("weights", facts)
    w = facts.probe.weight_scalings
    for term, symbol, what in (("a", "·w", "decay step"), ("b", "·sgn(w)", "L1 step")):
        if term in w and not (term == "a" and facts.regularizer == "l1"):
            one = replace(facts, scaling=w[term], term=symbol, what=what)
            found += findings("term", one, exclusive=True)
    return found + findings("l1", facts)


def _data_findings(facts: Facts) -> list[Finding]:
    """The data step's mistakes: for the weights and the biases apart when they differ."""
    data = facts.data
    if data.spread or not kinds_differ(data):
        return findings("data", replace(facts, ratio=data.ratio, residual=data.residual), True)
    found = []
    for kind, plural, other_kind, other in (
        ("weight", "Weights", "bias", "biases"),
        ("bias", "Biases", "weight", "weights"),
    ):
        ratio, residual = data.by_kind[kind]
        right = abs(data.by_kind[other_kind][0] - 1) < 1e-3
        one = replace(facts, kind=kind, ratio=ratio, residual=residual)
        for finding in findings("data", one, exclusive=True):
            symbol = kind[0]
            finding.title = f"{plural}: {finding.title[0].lower()}{finding.title[1:]}"
            finding.found = (
                finding.found.replace("w ← w", f"{symbol} ← {symbol}")
                + f"; the {other}' step, {other[0]} ← {other[0]} − "
                + f"{data_text(data, other_kind)}, is {'right' if right else 'wrong too'}"
            )
            finding.fix = finding.fix.replace("w ← w", f"{symbol} ← {symbol}")
            found.append(finding)
    return found


def _cost_findings(facts: Facts, found: list[Finding]) -> str:
    """The cost's findings (added to ``found``); the regularizer the diagnosis is about — the
    update's own when the cost reports another one (then the cost is judged by its own)."""
    update, reported = update_form(facts.probe), cost_form(facts.cost)
    regularizer = facts.regularizer
    if update and reported and update != reported and (update, reported) != ("l2", "l1"):
        if update != "elastic-net":
            facts.names.update({"update-form": update, "cost-form": reported})
            found += findings("mismatch", facts)
            regularizer = update
            facts = replace(facts, regularizer=reported)
    found += findings("cost", facts, exclusive=True) + findings("cost-biases", facts)
    return regularizer


def update_form(probe: RegularizationProbe) -> str | None:
    """The regularizer the update's step has: a decay (l2), a sign step (l1), both."""
    w = probe.weight_scalings
    if "a" in w and "b" in w:
        return "elastic-net"
    if "b" in w:
        return "l1"
    if "a" in w:
        return "l2"
    return None


def cost_form(cost: CostProbe) -> str | None:
    """The regularizer the cost's penalty has: Σw² (l2) or Σ|w| (l1)."""
    if cost.penalty == 0 or cost.weight_exponent != cost.weight_exponent:
        return None
    return "l1" if penalty_symbols(cost)[1] == 1 else "l2"


def intended_regularizer(probe: RegularizationProbe, cost: CostProbe | None) -> str:
    """What the code is meant to apply: the cost's penalty says, else the update's step."""
    if cost is not None and cost_form(cost) is not None:
        return cost_form(cost)
    w = probe.weight_scalings
    if "a" in w and "b" in w:
        return "elastic-net"
    if "b" in w or "c" in w:
        return "l1"
    if "a" in w:
        return "l2"
    return "none"


# -- the lines to change ---------------------------------------------------------------------
def _lines_to_quote(learner: Learner, probe: RegularizationProbe) -> dict[str, list]:
    lmbda = [learner.update_argument("lmbda") or "", *ROLE_NAMES["lmbda"]]
    eta = [learner.update_argument("eta") or "", *ROLE_NAMES["eta"]]
    update = lines_using(learner.update, lmbda)
    if probe.through_gradients and learner.hook is not None:
        inside = lines_using(learner.hook.real(), lmbda)
        if inside:  # the penalty is in the gradient: not the lines that only pass λ to it
            update = [line for line in update if not _only_passes(line[1], lmbda)]
        update = sorted(set(update + inside))
    cost = lines_using(learner.cost, lmbda) if learner.cost is not None else []
    cost_loops = in_loop_lines(learner.cost) if learner.cost is not None else set()
    return {
        "update": update,
        "data": lines_using(learner.update, eta),
        "loops": in_loop_lines(learner.update),
        "cost": cost,
        "cost-loop": [line for line in cost if line[0] in cost_loops],
    }


def _only_passes(statement: str, names: list[str]) -> bool:
    """Whether a statement uses λ (any of ``names``) only as an argument passed on to a
    call: ``grads = backward(X, Y, cache, lambd)``."""
    try:
        tree = ast.parse(textwrap.dedent(statement))
    except SyntaxError:
        return False
    passed = {
        id(argument)
        for call in ast.walk(tree)
        if isinstance(call, ast.Call)
        for argument in [*call.args, *(k.value for k in call.keywords)]
    }
    uses = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in names]
    return bool(uses) and all(id(n) in passed for n in uses)


def lines_using(function, names: list[str]) -> list[tuple[int, str]]:
    """The statements of ``function`` whose *code* uses one of ``names`` (never a docstring,
    a string or a comment, nor the ``def`` line), as (line number, text): a statement over
    several lines is quoted whole, its number knowing its last line; each number knows its
    file."""
    try:
        source, start = inspect.getsourcelines(function)
        file = inspect.getsourcefile(function) or ""
    except (OSError, TypeError):
        return []
    code = textwrap.dedent("".join(source))
    offsets = _code_lines_using(code, names)
    definition = next(
        (i for i, line in enumerate(source) if line.lstrip().startswith(("def ", "async def "))), 0
    )
    spans = statement_spans(code)
    quoted = {}
    for offset in sorted(offsets - {definition}):
        first, last = next(((a, b) for a, b in spans if a <= offset <= b), (offset, offset))
        if first == definition:
            first = last = offset  # a signature over several lines: only the line itself
        quoted.setdefault(first, last)
    return [
        (LineNumber(start + first, file, start + last), statement_text(source[first : last + 1]))
        for first, last in sorted(quoted.items())
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
