"""The shape of the catalogue of mistakes: what a row is recognized from (:class:`Facts`),
a row itself (:class:`Row`), and the finding a row makes of the facts."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from nnreg.doctor.formulas import BOOK, SETTING, book_value, coefficient_text
from nnreg.doctor.measure import CostProbe, DataProbe, RegularizationProbe, Scaling
from nnreg.doctor.report import Finding


@dataclass
class Facts:
    """What a row is recognized from: the measurements, the regularizer meant, the lines of
    the learner's code, and — for the subject at hand — one term of the step (``scaling``,
    ``term``, ``what``) or one kind of parameter's data step (``kind``, ``ratio``)."""

    probe: RegularizationProbe
    data: DataProbe | None
    cost: CostProbe | None
    regularizer: str
    lines: dict[str, list] = field(default_factory=dict)
    """"update", "data", "cost", "cost-loop" → (line, text) to quote; "loops" → line numbers."""
    names: dict[str, str] = field(default_factory=dict)
    """"gradients", "cost": the learner's names for them."""
    scaling: Scaling | None = None
    term: str = ""
    what: str = ""
    kind: str | None = None
    ratio: float = 1.0
    residual: float = 0.0
    full_batch: bool = False
    """Every step of the learner's training uses all its data: the data given is n."""
    setting: dict[str, float] = field(default_factory=lambda: dict(BOOK))
    """η, λ, n, m to put numbers on consequences: the book's, or the script's own (--run)."""
    setting_text: str = SETTING
    """``for the book's η = 0.5, …`` or ``for your η = …``."""

    # -- a term of the penalty step ---------------------------------------------------------
    @property
    def found(self) -> str:
        return f"{self.what}: {coefficient_text(self.scaling)}{self.term}"

    @property
    def right(self) -> str:
        return f"ηλ/n{self.term}"

    @property
    def step(self) -> float:
        return book_value(self.scaling, self.setting)

    @property
    def times(self) -> float:
        s = self.setting
        return abs(self.step) / (s["eta"] * s["lmbda"] / s["n"])

    def scales(self, eta: int, lmbda: int, n: int, m: int, factor: float, tolerance=1e-3):
        s = self.scaling
        return s.is_(eta, lmbda, n, m) and math.isclose(s.factor, factor, rel_tol=tolerance)


Say = Callable[[Facts], str] | str


@dataclass(frozen=True)
class Row:
    """One mistake (or note) the doctor knows."""

    code: str
    kind: str  # "mistake" or "note"
    subject: str
    recognized: Callable[[Facts], bool]
    title: Say
    found: Say
    fix: Say = ""
    consequence: Say = ""
    lines: str = "update"
    """Which lines to quote: "update", "data", "cost", "looped" (those inside a loop)."""
    affects: str = "training"


def finding_of(row: Row, facts: Facts) -> Finding:
    def say(value: Say) -> str:
        return value(facts) if callable(value) else value

    return Finding(
        row.code,
        row.kind,
        say(row.title),
        say(row.found),
        say(row.fix),
        say(row.consequence),
        quoted(row.lines, facts),
        affects=row.affects,
    )


def quoted(which: str, facts: Facts) -> list:
    if which == "looped":
        inside = [line for line in facts.lines["update"] if line[0] in facts.lines["loops"]]
        return inside or facts.lines["update"]
    if which == "cost-looped":
        return facts.lines["cost-loop"]
    if which == "data" and facts.kind:
        other = "biases" if facts.kind == "weight" else "weights"
        own = [line for line in facts.lines["data"] if other not in line[1].lower()]
        return own or facts.lines["data"]
    return facts.lines.get(which, [])


def name_of(facts: Facts, what: str) -> str:
    """The learner's name for ``what`` ("gradients", "cost")."""
    return facts.names.get(what, what)
