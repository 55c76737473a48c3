"""``nnreg doctor``: find which regularization mistake a learner's own update code makes.

A pipeline: **find** (:mod:`~nnreg.doctor.find`: import the learner's file or notebook, build
its network on a tiny [3, 4, 2] network, find by what they do its parameters, the call that
updates them and the gradient computation inside; with ``--run``,
:mod:`~nnreg.doctor.capture` runs their script to its first update instead) → **replay**
(:mod:`~nnreg.doctor.replay`: that call, under control) → **measure**
(:mod:`~nnreg.doctor.measure`: the step's form and how it scales with η, λ, n and m) →
**diagnose** (:mod:`~nnreg.doctor.diagnose`, with the catalogue of known mistakes as data,
:mod:`~nnreg.doctor.catalogue`) → **report** (:mod:`~nnreg.doctor.report`).

The learner's code is code, not data: :func:`diagnose` runs all of it in a child process
with a time limit (:mod:`~nnreg.doctor.isolation`), never in the caller's process, and
never writes next to the learner's files.
"""

from __future__ import annotations

import inspect
import sys
import types
from dataclasses import replace
from pathlib import Path

from nnreg.doctor.capture import capture_update
from nnreg.doctor.diagnose import diagnose_measurements
from nnreg.doctor.find import learner_for, load_learner
from nnreg.doctor.gradients import discover_gradient_protocol
from nnreg.doctor.importing import notebook_label
from nnreg.doctor.isolation import diagnose_in_child
from nnreg.doctor.measure import probe_cost, probe_data_step, probe_regularization
from nnreg.doctor.places import place
from nnreg.doctor.pytorch import diagnose_torch_module, diagnose_torch_running, uses_torch
from nnreg.doctor.replay import DoctorError, Learner
from nnreg.doctor.report import Diagnosis, Finding, render
from nnreg.doctor.setting import example_count, recorded_setting, role_values

REGULARIZERS = ("l2", "l1", "elastic-net", "none")
DEFAULT_TIMEOUT = 60.0
"""Seconds the learner's code may run, import and probes together."""


def diagnose(
    target: str,
    gradients: str | None = None,
    regularizer: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    run: list[str] | None = None,
) -> Diagnosis:
    """Diagnose ``PATH.py[:NAME]`` or ``PATH.ipynb[:NAME]`` in a child process stopped
    after ``timeout`` seconds; ``regularizer`` says what the code is meant to do when its
    cost function does not tell. The diagnosis's ``notes`` say how the doctor had to call
    the code (μ set to 0, λ set on the object, …). Raises :class:`DoctorError` when the
    code cannot be probed, ends the child process or runs out of time.

    With ``run`` (a list of command-line arguments, possibly empty), ``target`` is the
    learner's own training script or notebook: it is run as ``python target *run`` would
    run it, from its folder, until its first update, which is then replayed (see
    :mod:`~nnreg.doctor.capture`)."""
    _check(regularizer)
    if run is not None:
        script = Path(target)
        if script.suffix not in (".py", ".ipynb") or not script.is_file():
            raise DoctorError(
                f"{script} is not a Python script or notebook: give the PATH.py (or "
                "PATH.ipynb) you train with, as you would run it"
            )
    return diagnose_in_child(target, gradients, regularizer, timeout, run)


def diagnose_in_this_process(
    target: str, gradients: str | None = None, regularizer: str | None = None
) -> Diagnosis:
    """:func:`diagnose`, running the learner's code in this process, with no time limit:
    what the child process does. Anything their code does (exit, loop, change numpy)
    happens here."""
    _check(regularizer)
    if uses_torch(Path(target.partition(":")[0])):
        return diagnose_torch_module(target, regularizer)
    return _diagnose_learner(load_learner(target, gradients), regularizer)


def diagnose_running(
    path: Path, arguments: list[str], gradients: str | None = None, regularizer: str | None = None
) -> Diagnosis:
    """Run the learner's script (or notebook) at ``path`` in this process until its first
    update, then diagnose that update replayed on the recorded network and arguments."""
    _check(regularizer)
    path = Path(path)
    label = notebook_label(path, everything=True)
    if uses_torch(path):
        return diagnose_torch_running(path, arguments, label, regularizer)
    call = capture_update(path, arguments, label)
    if call.network is None:  # a training function keeping its parameters in a dict
        network = types.ModuleType(call.function.__module__ or path.stem)
        network.__dict__.update(call.function.__globals__)
        name = call.method
    else:
        network = call.network
        name = type(network).__name__ if not isinstance(network, dict) else call.method
    shown = f"{name}.{call.method}" if name != call.method else call.method
    notes = [
        f"ran {path.name}{' ' + ' '.join(arguments) if arguments else ''} until its first "
        f"update, {shown}, and replayed that call on a copy of the network"
    ]
    learner = learner_for(
        network,
        name,
        path,
        notes,
        label,
        gradients,
        update_name=call.method,
        recorded=call.arguments,
        unit=(call.function, call.kind, call.takes_network),
    )
    binding = learner.unit.binding
    learner.setting = recorded_setting(
        learner.unit.kind,
        learner.unit.full_batch,
        role_values(binding, call.arguments, call.attributes),
        example_count(binding, call.arguments),
        call.outer,
    )
    return _diagnose_learner(learner, regularizer)


def _source_file(function) -> Path | None:
    try:
        return Path(inspect.getfile(getattr(function, "__func__", function))).resolve()
    except (TypeError, OSError):
        return None


def _diagnose_learner(learner: Learner, regularizer: str | None) -> Diagnosis:
    protocol = discover_gradient_protocol(learner)
    if protocol is None:
        learner.notes.append(
            f"{learner.unit.name} computes its gradients inline (no method or function of "
            "yours returns them): the penalty was measured through the update (λ against "
            "λ = 0), and the data step's scale in m by giving each example twice; whether "
            "the gradient itself is right was not measured"
        )
    probe = probe_regularization(learner, protocol)
    data = probe_data_step(learner, protocol)
    cost = probe_cost(learner)
    diagnosis = diagnose_measurements(learner, probe, data, cost, regularizer)
    return _in_their_terms(diagnosis, learner)


def _check(regularizer: str | None) -> None:
    if regularizer is not None and regularizer not in REGULARIZERS:
        raise DoctorError(f"unknown regularizer {regularizer!r}: choose {', '.join(REGULARIZERS)}")


def _in_their_terms(diagnosis: Diagnosis, learner: Learner) -> Diagnosis:
    """Line numbers as the learner finds them (``cell 3, line 7`` in a notebook), and the
    loader's notes attached as ``diagnosis.notes``."""
    diagnosis.findings = [
        replace(f, lines=[(place(learner, n), text) for n, text in f.lines])
        for f in diagnosis.findings
    ]
    diagnosis.notes = list(learner.notes)
    return diagnosis


def check(network, **options) -> Diagnosis:
    """Diagnose a network already built in this notebook kernel (see
    :func:`nnreg.doctor.live.check`)."""
    from nnreg.doctor.live import check as check_live

    options.setdefault("namespace", sys._getframe(1).f_globals)
    return check_live(network, **options)


__all__ = [
    "DEFAULT_TIMEOUT",
    "check",
    "Diagnosis",
    "DoctorError",
    "Finding",
    "diagnose",
    "diagnose_in_this_process",
    "render",
]
