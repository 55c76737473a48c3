"""The calls that may update a learner's network — its *units* — found by what their
arguments are for: a method or a free function taking a mini-batch (or X and Y) and η is a
**step** (one call, one update); one taking a number of epochs, or named like a training
loop (``SGD``, ``fit``, ``model``), is an **epoch** unit. Names of the learner's own code only:
no library function is a candidate.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnreg.doctor.roles import bind, role_of, signature_parameters

UPDATE_NAMES = ("update_mini_batch", "update_batch", "train_step", "sgd_step", "update", "step")


EPOCH_NAMES = ("SGD", "sgd", "fit", "train", "training", "model", "run", "gradient_descent")


NETWORK_NAMES = ("network", "net", "nn", "model", "self", "mlp", "params", "parameters")


TRIAL = {"eta": 0.5, "lmbda": 5.0, "n": 1000, "m": 10}
"""The setting of the trial update of a step unit."""


EPOCH_TRIAL = {"eta": 0.05, "lmbda": 5.0, "n": 10, "m": 10}
"""The setting of the trial epoch of a training loop: one mini-batch of 10."""


# -- the update: candidates -------------------------------------------------------------------
@dataclass
class UnitCandidate:
    """A function that may be the unit: a method, or a free function (taking the network)."""

    function: Callable
    name: str
    kind: str  # "step" or "epoch"
    network: Any = None
    skip: int = 0


def unit_candidates(owner: Any) -> list[UnitCandidate]:
    """Methods of ``owner`` (a class or an instance) that take data and η (as an argument
    or an attribute): updates first, then training loops."""
    found = []
    for method in methods(owner if inspect.isclass(owner) else type(owner)):
        function = getattr(owner, method, None)
        kind = unit_kind(function, None if inspect.isclass(owner) else owner)
        if kind:
            found.append(UnitCandidate(function, method, kind))
    return ordered(found)


def unit_kind(function: Callable, owner: Any, skip: int = 0) -> str | None:
    """ "step", "epoch" or None (it takes no examples), from what its arguments are for: a
    training loop takes a number of epochs (or mini-batches) or is named like one."""
    if not callable(function):
        return None
    binding = bind(function, None, skip)
    if not (binding.has("batch") or (binding.has("x") and binding.has("y"))):
        return None
    named = getattr(function, "__name__", "") in EPOCH_NAMES
    return "epoch" if binding.has("epochs") or binding.has("batches") or named else "step"


def ordered(found: list[UnitCandidate]) -> list[UnitCandidate]:
    def rank(candidate: UnitCandidate) -> tuple:
        named = candidate.name in UPDATE_NAMES or candidate.name in EPOCH_NAMES
        return (candidate.kind != "step", candidate.network is not None, not named)

    return sorted(found, key=rank)


def function_units(module, network: Any = None) -> list[UnitCandidate]:
    """Free functions of the learner's module: with a network, those taking it first (then
    data and η); without one, training functions taking the data themselves."""
    found = []
    for name, function in namespace(module).items():
        if not inspect.isfunction(function) or not learners_function(function, module):
            continue
        first = (signature_parameters(function) or [None])[0]
        takes_network = first is not None and (
            first.name in NETWORK_NAMES or role_of(first.name) is None
        )
        if network is not None and takes_network:
            kind = unit_kind(function, None, skip=1)
            if kind:
                found.append(UnitCandidate(function, name, kind, network, skip=1))
        elif network is None:
            kind = unit_kind(function, None)
            if kind == "epoch":
                found.append(UnitCandidate(function, name, kind))
    return ordered(found)


def learners_function(function: Callable, module) -> bool:
    """Defined in the learner's module, or in a module of their project (a sibling file, a
    package of theirs), not in a library."""
    if function.__module__ == module.__name__:
        return True
    try:
        home = Path(inspect.getfile(function)).resolve()
        mine = Path(module.__file__).resolve().parent
    except (TypeError, OSError, AttributeError):
        return False
    return "site-packages" not in home.parts and mine in home.parents


def methods(cls: type) -> list[str]:
    """Names of the functions defined in ``cls`` and its bases (not ``object``)."""
    names = []
    for owner in cls.__mro__[:-1]:
        for method, value in vars(owner).items():
            function = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            if inspect.isfunction(function) and not method.startswith("__") and method not in names:
                names.append(method)
    return names


def namespace(module) -> dict[str, Any]:
    """The module's names, and those of the modules its own functions come from (one hop:
    a script's ``from mynet.training import sgd`` brings ``update_mini_batch``, which
    ``sgd`` calls)."""
    names = dict(vars(module))
    for value in list(vars(module).values()):
        if inspect.isfunction(value) and learners_function(value, module):
            for key, item in value.__globals__.items():
                names.setdefault(key, item)
    return names
