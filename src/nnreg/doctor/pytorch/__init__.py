"""The doctor for PyTorch training code: what the first update really does to each parameter,
in the book's terms and in PyTorch's.

A pipeline like the NumPy doctor's: **capture** (:mod:`~nnreg.doctor.pytorch.capture`: run the
script to its first ``optimizer.step()`` or first update by hand, splitting the gradient into
the data's part and the penalty's) → **measure** (:mod:`~nnreg.doctor.pytorch.measure`: the
penalty's form and coefficient per tensor, what the optimizer does with ``weight_decay``) →
**diagnose** (:mod:`~nnreg.doctor.pytorch.catalogue`) → **report** (the same
:class:`~nnreg.doctor.report.Diagnosis` as for NumPy code). PyTorch is an optional extra
(``nnreg[torch]``); without it the doctor says which to install.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

from nnreg.doctor.formulas import CORRECT
from nnreg.doctor.places import place, statement_at
from nnreg.doctor.pytorch.capture import StepRecord, capture_step, uses_torch
from nnreg.doctor.pytorch.catalogue import TorchFacts, torch_findings
from nnreg.doctor.pytorch.measure import Measured, measure
from nnreg.doctor.report import Diagnosis

__all__ = ["diagnose_torch_module", "diagnose_torch_running", "uses_torch"]


def diagnose_torch_running(path: Path, arguments: list[str], label, regularizer=None) -> Diagnosis:
    """Run the PyTorch script (or notebook) at ``path`` to its first update and diagnose it."""
    record = capture_step(path, arguments, label)
    return diagnosis_of(record, SimpleNamespace(source=Path(path), line_label=label), regularizer)


def diagnose_torch_module(target: str, regularizer: str | None = None) -> Diagnosis:
    """``PATH.py:make_model`` with a training step of the learner's in the same file."""
    from nnreg.doctor.pytorch.module import capture_module_step

    record, label, notes = capture_module_step(target)
    path = Path(target.partition(":")[0])
    diagnosis = diagnosis_of(record, SimpleNamespace(source=path, line_label=label), regularizer)
    diagnosis.notes = notes + diagnosis.notes[1:]
    return diagnosis


def diagnosis_of(record: StepRecord, where, regularizer: str | None = None) -> Diagnosis:
    measured = measure(record)
    facts = TorchFacts(measured, _lines(record, measured))
    findings = torch_findings(facts)
    meant = regularizer or _regularizer(measured)
    for finding in findings:
        finding.lines = [(place(where, line), text) for line, text in finding.lines]
    diagnosis = Diagnosis(
        f"{Path(where.source).name}:{_model_name(record)}",
        meant,
        _rule_found(facts),
        CORRECT[meant] + "   — in PyTorch: weight_decay = λ/n on the weight matrices' "
        "group only (SGD or AdamW), the biases' group at 0",
        findings,
    )
    diagnosis.notes = _notes(record, measured, path_name=Path(where.source).name)
    return diagnosis


def _lines(record: StepRecord, measured: Measured) -> dict[str, list]:
    optimizer = [record.optimizer.line] if record.optimizer and record.optimizer.line else []
    quoted = {
        "optimizer": _statements(optimizer),
        "penalty": _statements(record.penalty_lines),
        "update": _statements(record.update_lines),
    }
    quoted["decay"] = quoted["penalty"] + quoted["update"]
    quoted["twice"] = quoted["optimizer"] + quoted["decay"]
    biases = [i for i, p in enumerate(record.parameters) if not p.is_weight]
    quoted["biases"] = (
        (quoted["optimizer"] if any(measured.optimizer_decay(i) for i in biases) else [])
        + (quoted["penalty"] if any(measured.penalty[i].present for i in biases) else [])
        + quoted["update"]
    )
    return quoted


def _statements(lines: list[tuple[str, int]]) -> list:
    found = {}
    for file, line in lines:
        statement = statement_at(file, line)
        if statement is not None:
            found.setdefault((statement[0].file, int(statement[0])), statement)
    return list(found.values())


def _regularizer(measured: Measured) -> str:
    weights = [i for i, p in enumerate(measured.record.parameters) if p.is_weight]
    decays = any(measured.decay_of(i) for i in weights) or any(
        g.weight_decay for g in measured.groups.values()
    )
    l1 = any(measured.l1_of(i) for i in weights)
    if decays and l1:
        return "elastic-net"
    return "l1" if l1 else ("l2" if decays else "none")


def _rule_found(facts: TorchFacts) -> str:
    measured = facts.measured
    parts = []
    for kind, indices in (("w", facts.weights()), ("b", facts.others())):
        if not indices:
            continue
        i = indices[0]
        decays = [measured.decay_of(j) for j in indices]
        decay = decays[0]
        alike = all(math.isclose(d, decay, rel_tol=1e-3, abs_tol=1e-12) for d in decays)
        term = f"(1 − η·{decay:.3g})·{kind}" if decay and alike else kind
        if not alike:
            term = f"(1 − η·k)·{kind} with k from {min(decays):.3g} to {max(decays):.3g}"
        group = measured.groups.get(facts.parameters[i].group)
        if group is not None and group.measured and not group.true_decay:
            kind_name = facts.record.optimizer.kind.__name__
            parts.append(
                f"{kind} ← {kind} − {kind_name}'s step of (∇C + {group.weight_decay:.3g}·{kind})"
            )
            continue
        l1 = measured.l1_of(i)
        sign = f" − η·{l1:.3g}·sgn({kind})" if l1 else ""
        norm = f" − η·c·{kind}/‖{kind}‖" if measured.norm_penalty and kind == "w" else ""
        if norm:
            term = kind
        parts.append(f"{kind} ← {term}{sign}{norm} − {_data_step(facts)}")
    rule = ",   ".join(parts)
    eta = facts.eta
    return rule + (f"   [η = {eta:g}]" if math.isfinite(eta) else "")


def _data_step(facts: TorchFacts) -> str:
    return "η·Σ∇C_x" if facts.record.reduction == "sum" else "(η/m)·Σ∇C_x"


def _model_name(record: StepRecord) -> str:
    kind = record.optimizer.kind.__name__ if record.optimizer else "a step of your own"
    return f"model + {kind}"


def _notes(record: StepRecord, measured: Measured, path_name: str) -> list[str]:
    how = (
        f"{record.optimizer.kind.__name__}.step()"
        if record.optimizer
        else "the first change of the parameters after backward() (a step of your own)"
    )
    notes = [
        f"ran {path_name} until its first update, {how}, and measured what it does to each "
        f"of the model's {len(record.parameters)} parameter tensors (m = {record.m}"
        + (f", n = {record.n:,}" if record.n else ", n not found")
        + ")"
    ]
    if any(p.penalty_gradient.any() for p in record.parameters):
        notes.append(
            "the penalty's gradient is the part of each parameter's gradient that does not "
            "flow through the model's output"
        )
    if record.numbers:
        shown = ", ".join(f"{k} = {v:g}" for k, v in sorted(record.numbers.items()))
        notes.append(f"λ was read as {shown}")
    unmeasured = [g for g in measured.groups.values() if not g.measured]
    if unmeasured:
        notes.append(
            "the optimizer could not be rebuilt on copies: what its weight_decay does was not "
            "measured"
        )
    return notes
