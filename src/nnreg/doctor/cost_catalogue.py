"""The catalogue's rows about the cost a learner prints: its penalty against the one the
update applies (see :mod:`~nnreg.doctor.catalogue`). These mistakes change what the learner
reads, not how the network trains."""

from __future__ import annotations

import math
from collections.abc import Callable

from nnreg.doctor.formulas import CORRECT_PENALTY, SETTING, count, number
from nnreg.doctor.measure import COST_EXAMPLES, CostProbe
from nnreg.doctor.rows import Facts, Row, name_of


def _cost_looped(f: Facts) -> bool:
    return f.cost.penalty != 0 and bool(f.lines["cost-loop"])


def _cost_over_evaluated(f: Facts) -> bool:
    if f.cost.penalty == 0 or not math.isclose(f.cost.evaluated_size_exponent, -1, abs_tol=0.05):
        return False
    exact = math.isclose(f.cost.scale / COST_EXAMPLES, 1, rel_tol=1e-3)
    # training on all the data at every step, the data given is the training set: that is n
    return not (f.full_batch and f.cost.n_exponent is None and exact)


def _over_data_given(f: Facts) -> bool:
    return math.isclose(f.cost.evaluated_size_exponent, -1, abs_tol=0.05)


def _cost_fixed(f: Facts) -> bool:
    n = f.cost.n_exponent
    fixed = n is None or not math.isclose(n, -1, abs_tol=0.05)
    return f.cost.penalty != 0 and not _over_data_given(f) and fixed


def _cost_scale_off(f: Facts) -> bool:
    right = math.isclose(f.cost.scale, f.cost.n_given or 0, rel_tol=1e-3)
    return f.cost.penalty != 0 and not _over_data_given(f) and not right


def penalty_symbols(cost: CostProbe) -> tuple[str, int]:
    """("Σ|w|", 1) for an L1 penalty, ("Σw²", 2) for L2: the sum and the constant under λ."""
    return ("Σ|w|", 1) if round(cost.weight_exponent) == 1 else ("Σw²", 2)


def penalty_text(cost: CostProbe) -> str:
    """The penalty the cost reports, as measured: ``(λ/2n)·Σw²``, ``λ/(2·len(data))·Σw²``…"""
    symbol, half = penalty_symbols(cost)
    if math.isclose(cost.evaluated_size_exponent, -1, abs_tol=0.05):
        return f"λ/({number(half * cost.scale / COST_EXAMPLES)}·len(data))·{symbol}"
    if cost.n_exponent is None or not math.isclose(cost.n_exponent, -1, abs_tol=0.05):
        return f"λ/({number(half * cost.scale)})·{symbol}"
    ratio = cost.scale / cost.n_given
    if math.isclose(ratio, 1, rel_tol=1e-3):
        return f"(λ/{'2' if half == 2 else ''}n)·{symbol}"
    return f"λ/({number(half * ratio)}·n)·{symbol}"


def _per_example_text(cost: CostProbe) -> str:
    """The penalty the looped line adds each time, e.g. ``(λ/2n)·Σw²``."""
    symbol, half = penalty_symbols(cost)
    each = cost.scale * COST_EXAMPLES
    if cost.n_given and math.isclose(each, cost.n_given, rel_tol=1e-3):
        return f"(λ/{'2' if half == 2 else ''}n)·{symbol}"
    return f"λ/({number(half * each)})·{symbol}"


def _evaluated_found(f: Facts) -> str:
    symbol, half = penalty_symbols(f.cost)
    constant = f.cost.scale / COST_EXAMPLES
    twice = ""
    if not math.isclose(constant, 1, rel_tol=1e-3):
        halved = ": the ½ is applied twice)" if math.isclose(constant, 2, rel_tol=1e-3) else ")"
        twice = f"; the constant is also wrong ({half * constant:g} instead of {half}{halved}"
    return f"penalty = λ/({number(half * constant)}·len(data))·{symbol}{twice}"


def _evaluated_fix(f: Facts) -> str:
    right = _right_penalty(f)
    constant = f.cost.scale / COST_EXAMPLES
    also = "" if math.isclose(constant, 1, rel_tol=1e-3) else f" — exactly {right}, with one ½"
    return f"divide by n, the training-set size, whatever data is evaluated: {right}{also}"


def times(ratio: float) -> str:
    """``5,000`` or ``0.25``."""
    return f"{ratio:,.0f}" if ratio >= 10 else f"{ratio:.3g}"


def _evaluated_consequence(f: Facts) -> str:
    constant = f.cost.scale / COST_EXAMPLES
    small = (
        ""
        if math.isclose(constant, 1, rel_tol=1e-3)
        else f", and here it is also {constant:g}× too small"
    )
    n = f.setting["n"]
    on = (
        f"on the 10,000 test images the penalty is {round(n) // 10_000}× too large (n = 50,000)"
        if f.setting_text == SETTING
        else f"on evaluation data of k examples the penalty is n/k× too large (n = {count(n)})"
    )
    return (
        f"{on}: the test 'regularized cost' can grow while the network improves. "
        "The book's own network2.py has this formula (total_cost divides by len(data)); "
        "training is not affected, only the cost reported for the validation and test data" + small
    )


def _fixed_found(f: Facts) -> str:
    symbol, half = penalty_symbols(f.cost)
    uses_n = (
        ""
        if f.cost.n_exponent is None
        else f" and does not depend on the n it is given ({f.cost.n_given})"
    )
    return f"penalty = λ/({number(half * f.cost.scale)})·{symbol}{uses_n}"


def _scale_found(f: Facts) -> str:
    symbol, half = penalty_symbols(f.cost)
    ratio = f.cost.scale / f.cost.n_given
    twice = ": the ½ is applied twice" if math.isclose(ratio, 2, rel_tol=1e-3) else ""
    return f"penalty = λ/({number(half * ratio)}·n)·{symbol}{twice}"


def _right_penalty(f: Facts) -> str:
    return CORRECT_PENALTY.get(f.regularizer, "(λ/2n)·Σw²")


def _mismatch_found(f: Facts) -> str:
    update = f.names["update-form"]
    step = "a sign step −(ηλ/n)·sgn(w)" if update == "l1" else "a decay (1 − ηλ/n)·w"
    return f"update: {step}; {name_of(f, 'cost')}: {penalty_text(f.cost)}"


def _mismatch_fix(f: Facts) -> str:
    update, reported = f.names["update-form"], f.names["cost-form"]
    return (
        f"make {name_of(f, 'cost')}'s penalty {CORRECT_PENALTY[update]} to match the update (or "
        f"change the update back to {reported.upper()}, if that is what you meant)"
    )


def _of_cost(text: str) -> Callable[[Facts], str]:
    """``text`` with ``{cost}`` the learner's name for its cost function."""
    return lambda f: text.format(cost=name_of(f, "cost"))


def _always(f: Facts) -> bool:
    return True


COST_ROWS: list[Row] = [
    # -- the update against the cost ---------------------------------------------------------
    Row(
        "update-cost-mismatch", "mistake", "mismatch", _always,
        lambda f: (
            f"The update applies {f.names['update-form'].upper()} but {name_of(f, 'cost')} "
            f"reports an {f.names['cost-form'].upper()} penalty"
        ),
        _mismatch_found,
        _mismatch_fix,
        lambda f: (
            "the cost you print is not the one the update minimizes: it cannot tell you "
            f"whether {f.names['update-form'].upper()} regularization works"
        ),
        lines="cost",
        affects="reported cost",
    ),
    # -- the penalty the cost reports (first match) ------------------------------------------
    Row(
        "cost-no-penalty", "mistake", "cost",
        lambda f: f.cost.penalty == 0 and f.regularizer != "none",
        lambda f: f"{name_of(f, 'cost')} reports no penalty",
        lambda f: f"{name_of(f, 'cost')}(data, λ) − {name_of(f, 'cost')}(data, 0) = 0",
        lambda f: f"add the penalty {_right_penalty(f)} (n = the training-set size) to the data "
        "cost",
        "the reported cost is the data cost only, not what the update minimizes",
        lines="cost",
        affects="reported cost",
    ),
    Row(
        "cost-penalty-in-loop", "mistake", "cost", _cost_looped,
        _of_cost("{cost} adds the penalty inside the loop over the examples: once per example"),
        lambda f: f"penalty = len(data) × {_per_example_text(f.cost)}",
        lambda f: (
            "move the penalty line out of the loop (dedent it) so it is added once, as "
            f"{_right_penalty(f)} with n the training-set size"
        ),
        "on the 10,000 test images the penalty is added 10,000 times: the reported cost is "
        "dominated by it and grows with the data set's size",
        lines="cost-looped",
        affects="reported cost",
    ),
    Row(
        "cost-uses-evaluated-size", "mistake", "cost", _cost_over_evaluated,
        _of_cost("{cost}'s penalty is divided by the size of the evaluated data, not by n"),
        _evaluated_found,
        _evaluated_fix,
        _evaluated_consequence,
        lines="cost",
        affects="reported cost",
    ),
    Row(
        "cost-fixed-scale", "mistake", "cost", _cost_fixed,
        lambda f: f"{name_of(f, 'cost')}'s penalty is divided by a fixed number, not by n",
        _fixed_found,
        lambda f: (
            f"divide by n, the training-set size: {_right_penalty(f)} — if that number is your "
            "mini-batch size, this is the λ/m mistake"
        ),
        lambda f: (
            f"the penalty is n/{f.cost.scale:.4g} = {times(f.setting['n'] / f.cost.scale)}× "
            f"too large {f.setting_text}"
        ),
        lines="cost",
        affects="reported cost",
    ),
    Row(
        "cost-penalty-scale", "mistake", "cost", _cost_scale_off,
        lambda f: f"{name_of(f, 'cost')}'s penalty has the wrong constant",
        _scale_found,
        lambda f: f"use {_right_penalty(f)}",
        lambda f: (
            f"the reported penalty is {f.cost.n_given / f.cost.scale:.3g}× the one the update "
            "minimizes"
        ),
        lines="cost",
        affects="reported cost",
    ),
    Row(
        "cost-penalizes-biases", "mistake", "cost-biases", lambda f: f.cost.biases_penalized,
        lambda f: f"{name_of(f, 'cost')} includes the biases in the penalty",
        "penalty changes when only the biases change",
        "sum over the weights only",
        "the reported penalty is not the one of the book's rule",
        lines="cost",
        affects="reported cost",
    ),
]  # fmt: skip
