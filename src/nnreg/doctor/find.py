"""Finding, by what the code does, what the probes replay: the network, the smallest call that
updates it, and the gradient computation inside that call.

* **The network**: the class (or function) of the learner's file built on a tiny [3, 4, 2]
  network — ``Class([3, 4, 2])``, ``Class(3, 4, 2)``, or by its signature (``n_hidden=4``,
  data arrays given stand-ins); for code written as functions, the module itself.
* **The update**: the smallest call that changes the parameters, tried in turn — a method
  taking a mini-batch (or X and Y) and η (``update_mini_batch``, ``train_batch``…), a free
  function taking the network, else a training method or function (``SGD``, ``fit``,
  ``model``) run for one epoch. Each is tried with the examples in each layout
  (:mod:`~nnreg.doctor.layouts`) until one runs and changes a chain of weight matrices,
  which are then the parameters (:mod:`~nnreg.doctor.parameters`). State a training method
  sets (``self.lmbda``, ``self.mu``) comes from running it once on a tiny data set first.
* **The gradient computation**: the outermost call, inside one trial update, of a method of
  the network or a function of the learner's module that returns one array per parameter
  (matched by name, else by shape); none when the gradients are computed inline (the probes
  then measure through the update alone).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from nnreg.doctor.building import PROTOCOL, build, find_factory, parameters_of
from nnreg.doctor.importing import import_file
from nnreg.doctor.inside import find_cost, find_hook
from nnreg.doctor.layouts import layouts_to_try
from nnreg.doctor.parameters import Candidate, Parameter, candidates, layer_io, parameters_among
from nnreg.doctor.replay import PROBE_SIZES, DoctorError, Learner, Unit, quietly, run_update
from nnreg.doctor.roles import bind, role_of, signature_parameters
from nnreg.doctor.units import (
    EPOCH_NAMES,
    EPOCH_TRIAL,
    TRIAL,
    UPDATE_NAMES,
    UnitCandidate,
    function_units,
    ordered,
    unit_candidates,
)


def load_learner(target: str, gradients: str | None = None) -> Learner:
    """Import ``PATH.py[:NAME]`` (or ``PATH.ipynb[:NAME]``), build the learner's network on
    :data:`PROBE_SIZES` and find what to replay."""
    path_text, _, name = target.partition(":")
    path = Path(path_text)
    if path.suffix not in (".py", ".ipynb") or not path.is_file():
        raise DoctorError(
            f"{path} is not a Python file or notebook: give PATH.py, PATH.ipynb or "
            "PATH.py:ClassName"
        )
    module, line_label, notes = import_file(path)
    try:
        factory, name, sibling = find_factory(module, name, path)
    except DoctorError as error:
        left_out = [note for note in notes if "left out" in note]
        if not left_out:
            raise
        raise DoctorError(
            f"{error}\nCells left out, which may be why: " + "; ".join(left_out)
        ) from None
    if sibling:  # `from network import Net`: the lines the findings point to are there
        notes = [*notes, f"{name} is defined in {sibling}, which {path.name} imports"]
    if factory is None:  # code written as functions: the module is the network's home
        return learner_for(module, f"{path.stem} (functions)", path, notes, line_label, gradients)
    network, built = build(factory, name, path)
    return learner_for(network, name, path, notes + built, line_label, gradients, module)


# -- the update: trials ------------------------------------------------------------------------
def learner_for(
    network: Any,
    name: str,
    path: Path,
    notes: list[str],
    line_label: Callable[[int], str | int],
    gradients: str | None,
    module: Any = None,
    update_name: str | None = None,
    recorded: dict[str, Any] | None = None,
    unit: tuple[Callable, str, bool] | None = None,
    sizes: list[int] | None = None,
) -> Learner:
    """The :class:`Learner` around a built network (or a module of functions): the unit
    that updates it (``update_name``, or found by trying), its parameters and gradient
    computation. With ``recorded`` (a real call's arguments by name, from ``--run``), the
    mini-batches are cut from the recorded one and other arguments keep their values. With
    ``sizes``, the network is probed at those sizes (a live network, as built) rather than
    as built on the probe's."""
    problems: list[str] = []
    for attempt in range(2):
        found = _candidates_for(network, module, update_name) if unit is None else []
        if unit is not None:  # the recorded call: a method, a free function or a loop
            function, kind, takes_network = unit
            holder = network if takes_network else None
            found = [UnitCandidate(function, update_name, kind, holder, 1 if takes_network else 0)]
        for candidate in found:
            learner = _tried(candidate, network, name, path, line_label, recorded, problems, sizes)
            if learner is not None:
                learner.notes = notes + learner.notes
                learner.hook = find_hook(learner, module, gradients)
                learner.cost, learner.cost_name, learner.cost_call = find_cost(learner)
                return learner
        if attempt == 0 and not _run_training_once(network, module):
            break  # no training method set any state the updates could have missed
    shown = "; ".join(_likeliest(problems)) or "no method or function that takes a mini-batch"
    raise DoctorError(f"{name}: found no update the doctor can replay ({shown}). {PROTOCOL}")


def _likeliest(problems: list[str]) -> list[str]:
    """What went wrong with the calls most likely to be the update: those named like one
    (``update_mini_batch``, ``SGD``), else the first two tried."""
    distinct = list(dict.fromkeys(problems))
    named = [
        problem
        for problem in distinct
        if re.split(r"[.(:]", problem.split(".", 1)[-1])[0] in (*UPDATE_NAMES, *EPOCH_NAMES)
    ]
    return named or distinct[:2]


def _candidates_for(network: Any, module: Any, update_name: str | None) -> list[UnitCandidate]:
    if isinstance(network, type(inspect)):  # a module of functions: its training loops
        found = function_units(network)
    else:
        found = unit_candidates(network) + (function_units(module, network) if module else [])
        found = ordered(found)
    if update_name:
        chosen = [c for c in found if c.name == update_name]
        if not chosen and callable(getattr(network, update_name, None)):
            chosen = [UnitCandidate(getattr(network, update_name), update_name, "step")]
        return chosen
    return found


def _tried(
    candidate, network, name, path, line_label, recorded, problems, sizes=None
) -> Learner | None:
    """The learner replaying ``candidate`` in the first layout in which one trial update
    runs and changes a chain of weight matrices; None (and why in ``problems``) if none.
    λ is the argument (or attribute) whose name says so, else the one argument whose value
    changes the step when it changes."""
    method = candidate.network is None and not isinstance(network, type(inspect))
    owner = network if method else None
    binding = bind(candidate.function, owner, candidate.skip)
    binding.attributes.update(_momentum_attribute(owner))
    shown = f"{name}.{candidate.name}" if method else candidate.name
    where = (candidate, network, name, path, line_label, recorded, sizes)
    if binding.has("lmbda"):
        return _with_n_found(_in_some_layout(*where, problems, binding), candidate)
    unnamed = _unnamed_numbers(candidate, binding)
    for argument in unnamed:
        # the others, perhaps n (a divisor): a training-set size rather than 0
        fixed = {k: (TRIAL["n"] if k in unnamed else v) for k, v in binding.fixed.items()}
        fixed.pop(argument, None)
        guess = replace(binding, arguments={**binding.arguments, "lmbda": argument}, fixed=fixed)
        learner = _in_some_layout(*where, [], guess)
        if learner is not None and _varies_the_step(learner, "lmbda"):
            learner.notes.append(
                f"λ is {shown}'s argument {argument}: the name is not one the doctor knows, "
                "but changing it changes the penalty"
            )
            return _with_n_found(learner, candidate)
    arguments = ", ".join(p.name for p in signature_parameters(candidate.function))
    problems.append(
        f"{shown}({arguments}) takes no λ, as an argument or an attribute such as self.lmbda, "
        "so the doctor cannot vary it"
    )
    return None


def _in_some_layout(candidate, network, name, path, line_label, recorded, sizes, problems, binding):
    method = candidate.network is None and not isinstance(network, type(inspect))
    owner = network if method else None
    known = parameters_of(network)
    shown = f"{name}.{candidate.name}" if method else candidate.name
    orientation = known[0].rows_are_outputs if known else None
    layouts = [None] if recorded else layouts_to_try(orientation, binding.has("x"))
    for layout in layouts:
        outputs_to_try = [sizes[-1]] if sizes else [PROBE_SIZES[-1], 1]
        for outputs in dict.fromkeys(outputs_to_try):
            unit = Unit(
                candidate.function, shown, binding, layout or "recorded", candidate.kind,
                owner=owner, network=candidate.network,
            )  # fmt: skip
            tried = list(sizes) if sizes else [*PROBE_SIZES[:-1], outputs]
            learner = Learner(path, name, network, known, unit, line_label=line_label, sizes=tried)
            if recorded is not None:
                learner.recorded_batch = _recorded_examples(binding, recorded)
                _keep_recorded(binding, recorded)
            problem = _trial(learner)
            if problem is None:
                learner.notes = _notes(learner)
                return learner
            problems.append(f"{shown}: {problem}")
    return None


def _unnamed_numbers(candidate: UnitCandidate, binding) -> list[str]:
    """Arguments no role claims that take a number: required ones (given 0), or ones whose
    default is a number."""
    found = []
    for parameter in signature_parameters(candidate.function)[candidate.skip :]:
        if parameter.name in binding.arguments.values() or role_of(parameter.name):
            continue
        default = parameter.default
        number = isinstance(default, (int, float)) and not isinstance(default, bool)
        if parameter.name in binding.fixed or number:
            found.append(parameter.name)
    return found


def _varies_the_step(learner: Learner, role: str) -> bool:
    """Whether the update changes when λ is 0 instead (``role`` "lmbda"), or when n is
    doubled ("n")."""
    setting = EPOCH_TRIAL if learner.unit.kind == "epoch" else TRIAL
    other = dict(setting, lmbda=0.0) if role == "lmbda" else dict(setting, n=2 * setting["n"])
    try:
        _, one = run_update(learner, setting, None)
        _, two = run_update(learner, other, None)
    except DoctorError:
        return False
    return any(not np.array_equal(a, b) for a, b in zip(one, two))


def _with_n_found(learner: Learner | None, candidate: UnitCandidate) -> Learner | None:
    """For a step that takes no argument named like n: the one unnamed number whose change
    changes the penalty is n (``total_examples``); none when the code uses no n."""
    if learner is None or learner.unit.kind != "step" or learner.unit.binding.has("n"):
        return learner
    binding = learner.unit.binding
    for argument in _unnamed_numbers(candidate, binding):
        if argument == binding.arguments.get("lmbda"):
            continue
        fixed = {k: v for k, v in binding.fixed.items() if k != argument}
        arguments = {**binding.arguments, "n": argument}
        learner.unit.binding = replace(binding, arguments=arguments, fixed=fixed)
        if _varies_the_step(learner, "n"):
            learner.notes = [note for note in _notes(learner) if "takes no n" not in note] + [
                note for note in learner.notes if note.startswith("λ is")
            ]
            learner.notes.append(
                f"n is {learner.unit.name}'s argument {argument}: the name is not one the "
                "doctor knows, but changing it changes the penalty"
            )
            return learner
        learner.unit.binding = binding
    return learner


def _recorded_examples(binding, recorded: dict[str, Any]) -> Any:
    """The examples of a recorded call: its mini-batch (or training data), or (X, Y)."""
    if "batch" in binding.arguments:
        return recorded[binding.arguments["batch"]]
    x, y = binding.arguments["x"], binding.arguments["y"]
    return (np.asarray(recorded[x]), np.asarray(recorded[y]))


def _momentum_attribute(owner: Any) -> dict[str, str]:
    from nnreg.doctor.roles import ROLE_NAMES, numeric_attribute

    attribute = numeric_attribute(owner, ROLE_NAMES["momentum"]) if owner is not None else None
    return {"momentum": attribute} if attribute else {}


def _keep_recorded(binding, recorded: dict[str, Any]) -> None:
    for argument in list(binding.fixed):
        if argument in recorded and role_of(argument, ("momentum",)) is None:
            binding.fixed[argument] = recorded[argument]


def _trial(learner: Learner) -> str | None:
    """One update in the trial setting; None when it changed a chain of weight matrices
    (then the learner's parameters and sizes), else what went wrong."""
    unit = learner.unit
    setting = EPOCH_TRIAL if unit.kind == "epoch" else TRIAL
    before = _values(learner.root)
    count = setting["n"] if unit.kind == "epoch" else setting["m"]
    batch = learner.make_batch(count, np.random.default_rng(0))
    returned = {}
    try:
        with quietly():
            returned = _call_keeping_locals(learner, batch, setting)
    except Exception as error:  # noqa: BLE001 - their code may raise anything
        return f"{type(error).__name__}: {error}"
    root, changed = learner.root, None
    if unit.kind == "epoch" and isinstance(learner.root, type(inspect)):
        root, local = _root_among(returned)
        if root is None:
            return "it changed no weights reachable from what it returns or keeps"
        unit.root_local, learner.root = local, root
        changed = candidates(root)
    everything = candidates(root)
    if changed is None:
        changed = [c for c in everything if _changed(c, before)]
    found = parameters_among(changed, learner.sizes, everything) or parameters_among(
        changed, None, everything
    )
    if not found:
        return "it changed no chain of weight matrices"
    learner.parameters = found
    learner.sizes = sizes_of(found, root)
    if unit.kind == "epoch":
        unit.creates_parameters = _creates_parameters(learner)
    return None


def _values(root: Any) -> dict[tuple, np.ndarray]:
    return {c.path: c.array.copy() for c in candidates(root)}


def _changed(candidate: Candidate, before: dict[tuple, np.ndarray]) -> bool:
    old = before.get(candidate.path)
    return old is None or old.shape != candidate.shape or not np.array_equal(old, candidate.array)


def _call_keeping_locals(learner: Learner, batch, setting) -> dict[str, Any]:
    """Call the unit; for a training function (its network made inside it), also keep its
    local variables as they were when it returned, and what it returned."""
    import sys

    kept: dict[str, Any] = {}
    code = getattr(learner.unit.function, "__code__", None)

    def local(frame, event, argument):
        if event == "return":
            kept.update(frame.f_locals)
            kept["<returned>"] = argument
        return local

    def trace(frame, event, argument):
        return local if frame.f_code is code else None

    watching = learner.unit.kind == "epoch" and isinstance(learner.root, type(inspect))
    previous = sys.gettrace()
    if watching:
        sys.settrace(trace)
    try:
        learner.call_update(batch, setting["eta"], setting["lmbda"], setting["n"], setting["m"])
    finally:
        if watching:
            sys.settrace(previous)
    return kept


def _root_among(values: dict[str, Any]) -> tuple[Any, str | None]:
    """The local variable (or the returned value) holding a chain of weights."""
    for name, value in values.items():
        if isinstance(value, (dict, list, tuple)) or hasattr(value, "__dict__"):
            if parameters_among(candidates(value)):
                return value, (None if name == "<returned>" else name)
    return None, None


def sizes_of(parameters: list[Parameter], root: Any) -> list[int]:
    """The layer sizes [n_in, …, n_out] of a chain of weights."""
    weights = [p for p in parameters if p.kind == "weight"]
    sizes = []
    for parameter in weights:
        n_in, n_out = layer_io(parameter.get(root), parameter.rows_are_outputs)
        sizes = sizes or [n_in]
        sizes.append(n_out)
    return sizes


def _creates_parameters(learner: Learner) -> bool:
    """Whether a training loop makes the network's arrays itself: after one epoch with η = 0
    and λ = 0 — which changes nothing — its parameters are not the ones it was given."""
    from nnreg.doctor.replay import set_parameters

    given = set_parameters(learner, seed=11)
    learner.pending = None
    batch = learner.make_batch(EPOCH_TRIAL["n"], np.random.default_rng(0))
    try:
        with quietly():
            learner.unit.call(batch, 0.0, 0.0, EPOCH_TRIAL["n"], EPOCH_TRIAL["m"])
        now = learner.snapshot()
    except Exception:  # noqa: BLE001 - their code may refuse η = 0
        return True
    return not all(np.array_equal(a, b) for a, b in zip(given, now))


def _run_training_once(network: Any, module: Any) -> bool:
    """Run the network's training method once on a tiny data set, so that state it sets
    (``self.lmbda``, ``self.mu``, ``self.n``, weights made in ``fit``) is there for the
    update to read; True if one ran."""
    if network is None or isinstance(network, type(inspect)):
        return False
    for candidate in unit_candidates(network):
        if candidate.kind != "epoch":
            continue
        if _tried(candidate, network, "", Path("."), int, None, []) is not None:
            return True
    return False


def _notes(learner: Learner) -> list[str]:
    """What the doctor chose when calling the learner's code, in their names."""
    unit, binding = learner.unit, learner.unit.binding
    notes = []
    for role, words in (("lmbda", "λ"), ("n", "n"), ("eta", "η")):
        if role in binding.attributes:
            notes.append(
                f"{words} is read from self.{binding.attributes[role]}: the doctor sets it "
                "before each call"
            )
    if "momentum" in binding.arguments:
        notes.append(
            f"{unit.name.split('.')[-1]}'s argument {binding.arguments['momentum']} was set "
            "to 0 (momentum off): the doctor measures the plain step"
        )
    if "momentum" in binding.attributes:
        notes.append(
            f"self.{binding.attributes['momentum']} was set to 0 (momentum off): the doctor "
            "measures the plain step"
        )
    if unit.kind == "step" and not binding.has("n"):
        notes.append(
            f"{unit.name} takes no n (training-set size) and keeps none as an attribute: n "
            "could not be varied, so a number your code divides by is read as a constant"
        )
    if unit.kind == "epoch":
        how = "all the examples in one step" if unit.full_batch else "one mini-batch"
        notes.append(
            f"{unit.name} is a training loop: the doctor runs it for one epoch of {how} at a "
            "time (and of two mini-batches, to tell n from m)"
        )
    for argument, value in binding.fixed.items():
        if role_of(argument, ("momentum",)) is not None:
            notes.append(
                f"{unit.name.split('.')[-1]}'s argument {argument} was set to 0 (momentum off): "
                "the doctor measures the plain step"
            )
        elif value == 0.0 and not isinstance(value, bool):
            notes.append(f"{unit.name.split('.')[-1]}'s argument {argument} was set to 0")
    return notes
