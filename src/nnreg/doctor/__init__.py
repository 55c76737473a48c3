"""``nnreg doctor``: find which regularization mistake a learner's own update code makes.

The learner's module is imported (never modified, no bytecode written next to it), its
network is built on a tiny [3, 4, 2] network, and :mod:`~nnreg.doctor.probes` run its
update with controlled weights and gradients; :mod:`~nnreg.doctor.catalogue` turns the
measurements into findings.
"""

from __future__ import annotations

from nnreg.doctor.catalogue import Diagnosis, Finding, diagnose_measurements, render
from nnreg.doctor.loading import DoctorError, load_learner
from nnreg.doctor.probes import (
    discover_gradient_protocol,
    probe_cost,
    probe_data_step,
    probe_regularization,
)

REGULARIZERS = ("l2", "l1", "elastic-net", "none")


def diagnose(
    target: str, gradients: str | None = None, regularizer: str | None = None
) -> Diagnosis:
    """Diagnose ``PATH.py[:NAME]``; ``regularizer`` says what the code is meant to do when
    its cost function does not tell. Raises :class:`DoctorError` when it cannot be probed."""
    if regularizer is not None and regularizer not in REGULARIZERS:
        raise DoctorError(f"unknown regularizer {regularizer!r}: choose {', '.join(REGULARIZERS)}")
    learner = load_learner(target, gradients)
    protocol = discover_gradient_protocol(learner)
    probe = probe_regularization(learner, protocol)
    data = probe_data_step(learner, protocol)
    cost = probe_cost(learner)
    return diagnose_measurements(learner, probe, data, cost, regularizer)


__all__ = ["Diagnosis", "DoctorError", "Finding", "diagnose", "render"]
