"""What the doctor measured, written as the book writes its rules: ``w ← (1 − ηλ/n)·w −
(η/m)·Σ∇C_x``, a coefficient as ``2·ηλ/n`` or ``λ/m`` from its measured power law, and the
correct rule of each regularizer. Consequences are put in numbers for the book's MNIST
setting (:data:`BOOK`)."""

from __future__ import annotations

import math

from nnreg.doctor.measure import DataProbe, RegularizationProbe, Scaling

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
    if "·" in denominator:
        denominator = f"({denominator})"  # ηλ/(n·m), not (ηλ/n)·m
    text = (numerator or "1") + (f"/{denominator}" if denominator else "")
    factor = nice(s.factor)
    if factor == "1":
        return text
    if factor == "-1":
        return f"−{text}"
    return f"{factor}·{text}"


def nice(value: float) -> str:
    for candidate in (1, -1, 2, -2, 0.5, -0.5, 3, 4):
        if math.isclose(value, candidate, rel_tol=1e-3):
            return f"{candidate:g}"
    return f"{value:.4g}"


def book_value(s: Scaling, setting: dict[str, float] = BOOK) -> float:
    """The coefficient in the book's setting, or in ``setting`` (as measured, when it
    follows no power law)."""
    if not s.integer():
        return s.base
    exponents = {k: round(v) for k, v in s.exponents.items()}
    return s.factor * math.prod(setting[k] ** e for k, e in exponents.items())


def rule_text(probe: RegularizationProbe, data: DataProbe | None) -> str:
    """The whole rule found: the weights' step, then the biases'."""
    w = probe.weight_scalings
    parts = [decay_text(w["a"]) + "·w" if "a" in w else "w"]
    if "b" in w:
        stop = " (stopping at 0)" if probe.weights.crosses_zero is False else ""
        parts.append(f"− {coefficient_text(w['b'])}·sgn(w){stop}")
    if "c" in w:
        parts.append(f"− {coefficient_text(w['c'])}·mean(sgn(w))")
    parts.append(f"− {data_text(data, 'weight')}")
    rule = "w ← " + " ".join(parts)
    b = probe.bias_scalings
    bias = decay_text(b["a"]) + "·b" if "a" in b else "b"
    return f"{rule},   b ← {bias} − {data_text(data, 'bias')}"


def decay_text(s: Scaling) -> str:
    """``(1 − ηλ/n)``, or ``(1 + ηλ/n)`` for a negative coefficient."""
    text = coefficient_text(s)
    return f"(1 + {text[1:]})" if text.startswith("−") else f"(1 − {text})"


def data_text(data: DataProbe | None, kind: str | None = None) -> str:
    """The data step as measured: ``(η/m)·Σ∇C_x``, ``η·Σ∇C_x``…"""
    if data is None:
        return "(η/m)·Σ∇C_x"
    if data.spread:
        return "(η/m)·mean over the layer of Σ∇C_x"
    ratio = data.by_kind[kind][0] if kinds_differ(data) and kind in data.by_kind else data.ratio
    for value, text in (
        (1, "(η/m)·Σ∇C_x"),
        (data.setting["m"], "η·Σ∇C_x"),
        (1 / data.setting["m"], "(η/m²)·Σ∇C_x"),
    ):
        if math.isclose(ratio, value, rel_tol=1e-3):
            return text
    return f"{ratio:.3g}·(η/m)·Σ∇C_x"


def kinds_differ(data: DataProbe) -> bool:
    """The weights' data step and the biases' are scaled differently."""
    ratios = [ratio for ratio, _ in data.by_kind.values()]
    return len(ratios) == 2 and not math.isclose(ratios[0], ratios[1], rel_tol=1e-3)


def layer_step_text(a: float, b: float, c: float = 0.0) -> str:
    """One layer's penalty step, in units of the correct ηλ/n."""
    parts = []
    if abs(a) > 1e-6:
        parts.append(f"w ← (1 − {nice(a)}·ηλ/n)·w".replace("(1 − 1·ηλ/n)", "(1 − ηλ/n)"))
    if abs(b) > 1e-6:
        parts.append(f"w ← w − {nice(b)}·(ηλ/n)·sgn(w)".replace(" 1·(ηλ/n)", " (ηλ/n)"))
    if abs(c) > 1e-6:
        text = f"w ← w − {nice(c)}·(ηλ/n)·mean(sgn(w))"
        parts.append(text.replace(" 1·(ηλ/n)", " (ηλ/n)"))
    return " and ".join(parts) or "no penalty"


def count(value: float) -> str:
    """A number of examples (n, m): ``50,000``."""
    return f"{round(value):,}" if value == round(value) else f"{value:g}"


def number(value: float) -> str:
    return f"{round(value)}" if math.isclose(value, round(value), rel_tol=1e-6) else f"{value:.4g}"
