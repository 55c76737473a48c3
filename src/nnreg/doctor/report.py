"""The diagnosis as a learner reads it: what the doctor found (:class:`Finding`), the whole
verdict (:class:`Diagnosis`), and the text ``nnreg doctor`` prints (:func:`render`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Finding:
    """One thing the doctor found: a ``mistake`` (exit 1) or a ``note``."""

    code: str
    kind: str
    title: str
    found: str
    fix: str = ""
    consequence: str = ""
    lines: list[tuple[int | str, str]] = field(default_factory=list)
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

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        """In a notebook, the diagnosis as the command prints it."""
        printer.text(render(self) if not cycle else "Diagnosis(…)")


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
            for place, text in finding.lines:
                first, *rest = text.strip().splitlines() or [""]
                lines.append(f"    {place} | {first}")
                lines += [f"    {' ' * len(str(place))} | {more}" for more in rest]
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
