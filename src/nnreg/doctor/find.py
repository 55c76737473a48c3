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
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from nnreg.doctor.importing import import_file, project_root
from nnreg.doctor.layouts import layouts_to_try
from nnreg.doctor.parameters import (
    Candidate,
    Parameter,
    candidates,
    layer_io,
    leaves,
    parameters_among,
)
from nnreg.doctor.replay import PROBE_SIZES, DoctorError, Hook, Learner, Unit, quietly
from nnreg.doctor.roles import SIZE_NAMES, bind, required, role_of, signature_parameters

UPDATE_NAMES = ("update_mini_batch", "update_batch", "train_step", "sgd_step", "update", "step")
EPOCH_NAMES = ("SGD", "sgd", "fit", "train", "training", "model", "run", "gradient_descent")
GRADIENT_NAMES = (
    "backprop",
    "backpropagation",
    "back_propagation",
    "backward",
    "gradients",
    "compute_gradients",
)
COST_NAMES = ("total_cost", "cost", "compute_cost", "regularized_cost", "loss")
NETWORK_NAMES = ("network", "net", "nn", "model", "self", "mlp", "params", "parameters")
TRIAL = {"eta": 0.5, "lmbda": 5.0, "n": 1000, "m": 10}
"""The setting of the trial update of a step unit."""
EPOCH_TRIAL = {"eta": 0.05, "lmbda": 5.0, "n": 10, "m": 10}
"""The setting of the trial epoch of a training loop: one mini-batch of 10."""

PROTOCOL = (
    "the doctor looks for a network (a class built from its sizes, e.g. Class([3, 4, 2]), "
    "or functions working on a dict of arrays) whose weights chain layer after layer, and "
    "for the call that updates them: a method or function taking a mini-batch (or X and Y) "
    "and η, or a training loop taking the data, η and the number of epochs. For anything "
    "else write a function make_network(sizes) that builds your network and point the "
    "doctor at it: PATH.py:make_network — or run your own training script with nnreg "
    "doctor --run SCRIPT.py"
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


# -- the class (or function) that makes the network -------------------------------------------
def find_factory(module, name: str, path: Path) -> tuple[Callable | None, str, str | None]:
    """The class (or function) to build, its name, and the sibling file it comes from;
    (None, …) for code written as functions (no class of the learner's with an update)."""
    if name:
        factory = getattr(module, name, None)
        if not callable(factory):
            raise DoctorError(f"{path} has no class or function named {name!r}")
        return factory, name, None
    classes = [value for value in _namespace(module).values() if inspect.isclass(value)]
    own = [c for c in classes if c.__module__ == module.__name__]
    siblings = [c for c in classes if c not in own and _defined_in(c, path.parent)]
    for group in (own, siblings):  # `from network import Net` in the file given
        candidates_ = [c for c in group if _unit_candidates(c)]
        if candidates_:
            break
    if not candidates_ and _takes_a_network(module):
        # free functions taking the network (`update_mini_batch(network, …)`): a class of
        # the learner's project that holds the weights is the network to give them
        group = own or siblings
        candidates_ = [c for c in own + siblings if _holds_weights(c)][:1]
    if not candidates_:
        if _function_units(module):
            return None, path.stem, None
        raise DoctorError(
            f"{path}: found no network and no update the doctor can replay; {PROTOCOL}"
        )
    if len(candidates_) > 1:
        named = [c for c in candidates_ if any(callable(getattr(c, n, None)) for n in UPDATE_NAMES)]
        candidates_ = named if len(named) == 1 else candidates_
    if len(candidates_) != 1:
        names = ", ".join(c.__name__ for c in candidates_)
        raise DoctorError(
            f"{path}: found {len(candidates_)} classes with an update method: {names}; name "
            f"one as {path}:ClassName"
        )
    chosen = candidates_[0]
    if group is own:
        return chosen, chosen.__name__, None
    return chosen, chosen.__name__, Path(inspect.getfile(chosen)).name


def _defined_in(cls: type, folder: Path) -> bool:
    """Defined in a file of the learner's project: beside theirs, or in a package of the
    project (``from mynet.network import Network``)."""
    try:
        home = Path(inspect.getfile(cls)).resolve()
    except (TypeError, OSError):  # a builtin class
        return False
    root = project_root(folder)
    return home.parent == folder.resolve() or (
        "site-packages" not in home.parts and root in home.parents
    )


def _namespace(module) -> dict[str, Any]:
    """The module's names, and those of the modules its own functions come from (one hop:
    a script's ``from mynet.training import sgd`` brings ``update_mini_batch``, which
    ``sgd`` calls)."""
    names = dict(vars(module))
    for value in list(vars(module).values()):
        if inspect.isfunction(value) and _learners_function(value, module):
            for key, item in value.__globals__.items():
                names.setdefault(key, item)
    return names


def _takes_a_network(module) -> bool:
    return any(c.network is not None for c in _function_units(module, network=object()))


def _holds_weights(cls: type) -> bool:
    """A class whose instance, built on the probe's sizes, holds a chain of weights."""
    try:
        with quietly():
            network = build(cls, cls.__name__, Path("."))[0]
    except DoctorError:
        return False
    return bool(_parameters_of(network))


def build(factory: Callable, name: str, path: Path) -> tuple[Any, list[str]]:
    """The network, built on :data:`PROBE_SIZES`: as ``factory(sizes)``, ``factory(*sizes)``
    or by the names of its arguments (sizes, n_hidden…, data arrays); and notes on how."""
    problems = []
    for arguments, keywords, note in _constructions(factory):
        try:
            with quietly():
                return factory(*arguments, **keywords), [note] if note else []
        except Exception as error:  # noqa: BLE001 - their constructor may raise anything
            shown = ", ".join([*map(repr, arguments), *(f"{k}=…" for k in keywords)])
            problems.append(f"{name}({shown}): {type(error).__name__}: {error}")
    raise DoctorError(
        f"could not build the network: {'; '.join(problems[:3])}. {PROTOCOL}.\n"
        + adapter_text(factory, name, path)
    )


def _constructions(factory: Callable):
    """(arguments, keywords, note) to try, most likely first: by the names of its arguments
    when they say what they are (``n_hidden``, ``layer_sizes``…), then the sizes as a list
    and as three numbers."""
    keywords, named = _keywords_by_name(factory)
    by_name = []
    if keywords is not None:
        note = f"{getattr(factory, '__name__', 'the network')} was built as " + ", ".join(
            f"{k}={v}" for k, v in named.items()
        )
        by_name = [((), keywords, note if named else "")]
    first = (signature_parameters(factory) or [None])[0]
    sizes_first = first is None or first.name in SIZE_NAMES["sizes"] or not named
    if not sizes_first:
        yield from by_name
    yield (list(PROBE_SIZES),), {}, ""
    yield tuple(PROBE_SIZES), {}, ""
    if sizes_first:
        yield from by_name


def _keywords_by_name(factory: Callable) -> tuple[dict | None, dict]:
    """Keywords for a constructor from its argument names: sizes, the three layer widths,
    stand-in data arrays, 1 epoch; None when a required argument has no known meaning."""
    n_in, n_hidden, n_out = PROBE_SIZES
    sizes = {"sizes": list(PROBE_SIZES), "n_in": n_in, "n_hidden": n_hidden, "n_out": n_out}
    rng = np.random.default_rng(0)
    data = {"x": rng.uniform(0, 1, (20, n_in)), "y": np.arange(20) % n_out}
    keywords, named = {}, {}
    for parameter in signature_parameters(factory):
        size = next((k for k, names in SIZE_NAMES.items() if parameter.name in names), None)
        role = role_of(parameter.name)
        if size is not None:
            keywords[parameter.name] = named[parameter.name] = sizes[size]
        elif role in ("x", "y", "batch"):
            keywords[parameter.name] = data["y" if role == "y" else "x"]
            named[parameter.name] = "stand-in data"
        elif role == "epochs":
            keywords[parameter.name] = 1
        elif required(parameter):
            return None, {}
    return keywords, named


def adapter_text(factory: Callable, name: str, path: Path) -> str:
    """A ready-to-edit adapter for a constructor the doctor cannot call by itself (or run
    your training script with ``nnreg doctor --run``)."""
    wanted = ", ".join(p.name for p in signature_parameters(factory)) or "sizes"
    return (
        f"Either run your training script with `nnreg doctor --run YOUR_SCRIPT.py`, or save "
        f"this next to {path.name} as adapter.py, fill in the arguments and run `nnreg doctor "
        f"adapter.py:make_network`:\n\n"
        f"    from {path.stem} import {name}\n\n\n"
        f"    def make_network(sizes):\n"
        f"        return {name}(sizes)  # {name} takes ({wanted}): give the others here\n"
    )


# -- the update: candidates -------------------------------------------------------------------
@dataclass
class Candidate_:
    """A function that may be the unit: a method, or a free function (taking the network)."""

    function: Callable
    name: str
    kind: str  # "step" or "epoch"
    network: Any = None
    skip: int = 0


def _unit_candidates(owner: Any) -> list[Candidate_]:
    """Methods of ``owner`` (a class or an instance) that take data and η (as an argument
    or an attribute): updates first, then training loops."""
    found = []
    for method in _methods(owner if inspect.isclass(owner) else type(owner)):
        function = getattr(owner, method, None)
        kind = _unit_kind(function, None if inspect.isclass(owner) else owner)
        if kind:
            found.append(Candidate_(function, method, kind))
    return _ordered(found)


def _unit_kind(function: Callable, owner: Any, skip: int = 0) -> str | None:
    """ "step", "epoch" or None (it takes no examples), from what its arguments are for: a
    training loop takes a number of epochs (or mini-batches) or is named like one."""
    if not callable(function):
        return None
    binding = bind(function, None, skip)
    if not (binding.has("batch") or (binding.has("x") and binding.has("y"))):
        return None
    named = getattr(function, "__name__", "") in EPOCH_NAMES
    return "epoch" if binding.has("epochs") or binding.has("batches") or named else "step"


def _ordered(found: list[Candidate_]) -> list[Candidate_]:
    def rank(candidate: Candidate_) -> tuple:
        named = candidate.name in UPDATE_NAMES or candidate.name in EPOCH_NAMES
        return (candidate.kind != "step", candidate.network is not None, not named)

    return sorted(found, key=rank)


def _function_units(module, network: Any = None) -> list[Candidate_]:
    """Free functions of the learner's module: with a network, those taking it first (then
    data and η); without one, training functions taking the data themselves."""
    found = []
    for name, function in _namespace(module).items():
        if not inspect.isfunction(function) or not _learners_function(function, module):
            continue
        first = (signature_parameters(function) or [None])[0]
        takes_network = first is not None and (
            first.name in NETWORK_NAMES or role_of(first.name) is None
        )
        if network is not None and takes_network:
            kind = _unit_kind(function, None, skip=1)
            if kind:
                found.append(Candidate_(function, name, kind, network, skip=1))
        elif network is None:
            kind = _unit_kind(function, None)
            if kind == "epoch":
                found.append(Candidate_(function, name, kind))
    return _ordered(found)


def _learners_function(function: Callable, module) -> bool:
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


def _methods(cls: type) -> list[str]:
    """Names of the functions defined in ``cls`` and its bases (not ``object``)."""
    names = []
    for owner in cls.__mro__[:-1]:
        for method, value in vars(owner).items():
            function = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            if inspect.isfunction(function) and not method.startswith("__") and method not in names:
                names.append(method)
    return names


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
) -> Learner:
    """The :class:`Learner` around a built network (or a module of functions): the unit
    that updates it (``update_name``, or found by trying), its parameters and gradient
    computation. With ``recorded`` (a real call's arguments by name, from ``--run``), the
    mini-batches are cut from the recorded one and other arguments keep their values."""
    problems: list[str] = []
    for attempt in range(2):
        found = _candidates_for(network, module, update_name) if unit is None else []
        if unit is not None:  # the recorded call: a method, a free function or a loop
            function, kind, takes_network = unit
            holder = network if takes_network else None
            found = [Candidate_(function, update_name, kind, holder, 1 if takes_network else 0)]
        for candidate in found:
            learner = _tried(candidate, network, name, path, line_label, recorded, problems)
            if learner is not None:
                learner.notes = notes + learner.notes
                learner.hook = _find_hook(learner, module, gradients)
                learner.cost, learner.cost_name, learner.cost_call = _find_cost(learner)
                return learner
        if attempt == 0 and not _run_training_once(network, module):
            break  # no training method set any state the updates could have missed
    shown = "; ".join(dict.fromkeys(problems)) or "no method or function that takes a mini-batch"
    raise DoctorError(f"{name}: found no update the doctor can replay ({shown}). {PROTOCOL}")


def _candidates_for(network: Any, module: Any, update_name: str | None) -> list[Candidate_]:
    if isinstance(network, type(inspect)):  # a module of functions: its training loops
        found = _function_units(network)
    else:
        found = _unit_candidates(network) + (_function_units(module, network) if module else [])
        found = _ordered(found)
    if update_name:
        chosen = [c for c in found if c.name == update_name]
        if not chosen and callable(getattr(network, update_name, None)):
            chosen = [Candidate_(getattr(network, update_name), update_name, "step")]
        return chosen
    return found


def _tried(candidate, network, name, path, line_label, recorded, problems) -> Learner | None:
    """The learner replaying ``candidate`` in the first layout in which one trial update
    runs and changes a chain of weight matrices; None (and why in ``problems``) if none."""
    method = candidate.network is None and not isinstance(network, type(inspect))
    owner = network if method else None
    binding = bind(candidate.function, owner, candidate.skip)
    binding.attributes.update(_momentum_attribute(owner))
    known = _parameters_of(network)
    shown = f"{name}.{candidate.name}" if method else candidate.name
    if not binding.has("lmbda"):
        arguments = ", ".join(p.name for p in signature_parameters(candidate.function))
        problems.append(
            f"{shown}({arguments}) takes no λ, as an argument or an attribute such as "
            "self.lmbda, so the doctor cannot vary it"
        )
        return None
    orientation = known[0].rows_are_outputs if known else None
    layouts = [None] if recorded else layouts_to_try(orientation, binding.has("x"))
    for layout in layouts:
        for outputs in dict.fromkeys([PROBE_SIZES[-1], 1]):
            unit = Unit(
                candidate.function, shown, binding, layout or "recorded", candidate.kind,
                owner=owner, network=candidate.network,
            )  # fmt: skip
            sizes = [*PROBE_SIZES[:-1], outputs]
            learner = Learner(path, name, network, known, unit, line_label=line_label, sizes=sizes)
            if recorded is not None:
                learner.recorded_batch = _recorded_examples(binding, recorded)
                _keep_recorded(binding, recorded)
            problem = _trial(learner)
            if problem is None:
                learner.notes = _notes(learner)
                return learner
            problems.append(f"{shown}: {problem}")
    return None


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


def _parameters_of(network: Any) -> list[Parameter]:
    found = candidates(network)
    return parameters_among(found, PROBE_SIZES) or parameters_among(found)


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
    learner.sizes = _sizes(found, root)
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


def _sizes(parameters: list[Parameter], root: Any) -> list[int]:
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
    for candidate in _unit_candidates(network):
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


# -- the gradient computation ------------------------------------------------------------------
def _find_hook(learner: Learner, module: Any, chosen: str | None) -> Hook | None:
    """``chosen`` (--gradients), else the outermost method of the network or function of
    the learner's module that one trial update calls and that returns one gradient per
    parameter; None when the gradients are computed inline."""
    places = _hook_places(learner, module)
    if chosen:
        for owner in places:
            if callable(
                owner.get(chosen) if isinstance(owner, dict) else getattr(owner, chosen, None)
            ):
                return Hook(owner, chosen)
        raise DoctorError(f"{learner.name} has no method or function {chosen!r} (--gradients)")
    calls: list[tuple[int, int, Hook]] = []
    depth = [0]
    hooks = [Hook(owner, name) for owner in places for name in _watchable(owner, learner)]
    replaced = [hook.replaced(_watched(hook, depth, calls, learner)) for hook in hooks]
    try:
        for context in replaced:
            context.__enter__()
        _one_update(learner)
    finally:
        for context in reversed(replaced):
            context.__exit__(None, None, None)
    calls = [call for call in calls if not MAKES_NETWORK.search(call[2].name)]
    if not calls:
        return None
    outermost = min(d for d, _, _ in calls)
    found = [hook for d, _, hook in calls if d == outermost]
    named = [h for n in GRADIENT_NAMES for h in found if h.name == n]
    looks = [h for h in found if LOOKS_LIKE_GRADIENTS.search(h.name)]
    return (named or looks or found[-1:])[0]


MAKES_NETWORK = re.compile(r"init|creat|build|make|setup|new|random|load|copy|clone", re.I)
"""Names of functions that return arrays of the parameters' sizes without being gradients
(an ``initialize_parameters`` returns the parameters themselves)."""
LOOKS_LIKE_GRADIENTS = re.compile(r"grad|back|deriv|delta|nabla|jacob", re.I)


def _hook_places(learner: Learner, module: Any) -> list[Any]:
    """Where a gradient computation may live: the network object, and the globals the
    update's code reads (its module's)."""
    places = []
    if learner.unit.owner is not None:
        places.append(learner.unit.owner)
    if learner.unit.network is not None and not isinstance(learner.unit.network, dict):
        places.append(learner.unit.network)
    namespace = getattr(learner.unit.function, "__globals__", None)
    if namespace is not None:
        places.append(namespace)
    return places


def _watchable(owner: Any, learner: Learner) -> list[str]:
    unit = getattr(learner.unit.function, "__name__", "")
    if isinstance(owner, dict):
        return [
            name
            for name, value in owner.items()
            if inspect.isfunction(value)
            and name != unit
            and getattr(value, "__code__", None) is not None
            and _in_learners_files(value, learner.source)
        ]
    own = set(vars(owner)) if hasattr(owner, "__dict__") else set()
    return [m for m in _methods(type(owner)) if m != unit and m not in own]


def _in_learners_files(function: Callable, source: Path) -> bool:
    try:
        home = Path(inspect.getfile(function)).resolve()
    except (TypeError, OSError):
        return False
    folder = source.resolve().parent
    return home == source.resolve() or (
        "site-packages" not in home.parts and (folder in home.parents or home.parent == folder)
    )


def _watched(hook: Hook, depth: list[int], calls: list, learner: Learner) -> Callable:
    real = hook.real()
    order = len(calls)

    def call(*arguments, **keywords):
        depth[0] += 1
        try:
            result = real(*arguments, **keywords)
        finally:
            depth[0] -= 1
        if returns_gradients(result, learner):
            calls.append((depth[0], order, hook))
        return result

    return call


def returns_gradients(result: Any, learner: Learner) -> bool:
    """One array per parameter, of its size (in any nesting), or a dict naming each
    parameter's gradient (``dW1`` for ``W1``) among other arrays (``dA1``…)."""
    sizes = sorted(p.get(learner.root).size for p in learner.parameters)
    found = leaves(result)
    if sorted(leaf.size for leaf in found) == sizes:
        return True
    if isinstance(result, dict):
        names = {str(p.path[-1]).lower() for p in learner.parameters}
        keys = {str(k).lower().removeprefix("d").removeprefix("grad_") for k in result}
        return names <= keys
    return False


def _one_update(learner: Learner) -> None:
    setting = EPOCH_TRIAL if learner.unit.kind == "epoch" else TRIAL
    count = setting["n"] if learner.unit.kind == "epoch" else setting["m"]
    from nnreg.doctor.replay import set_parameters

    set_parameters(learner, seed=3)
    batch = learner.make_batch(count, np.random.default_rng(0))
    try:
        with quietly():
            learner.call_update(batch, setting["eta"], setting["lmbda"], setting["n"], setting["m"])
    except Exception:  # noqa: BLE001 - the probes call the update again and say what it raised
        pass


# -- the cost ----------------------------------------------------------------------------------
OUTPUT_NAMES = (
    "AL",
    "A",
    "A_L",
    "A2",
    "A3",
    "a_out",
    "output",
    "outputs",
    "yhat",
    "y_hat",
    "Y_hat",
    "predictions",
    "prediction",
    "probs",
    "probabilities",
    "y_pred",
    "out",
)
"""Names of a cost function's argument for the network's outputs (a stand-in is given: the
penalty is cost(λ) − cost(0), whatever the outputs)."""
COST_WORDS = re.compile(r"cost|loss|objective|error", re.I)


def _find_cost(learner: Learner) -> tuple[Callable | None, str | None, Callable | None]:
    """The learner's cost with λ — a method of the network, or a function of the module
    taking the outputs, the targets, the parameters and λ — and how to call it on examples
    for a given (λ, n): (the function, its name, the call), or Nones."""
    owner = learner.unit.owner
    places = [owner] if owner is not None else []
    namespace = getattr(learner.unit.function, "__globals__", {})
    for place in places:
        for name in COST_NAMES:
            function = getattr(place, name, None)
            if callable(function) and _takes_lambda(function):
                return function, name, partial(_method_cost, function)
    for name, function in namespace.items():
        if (
            inspect.isfunction(function)
            and COST_WORDS.search(name)
            and _takes_lambda(function)
            and _in_learners_files(function, learner.source)
        ):
            return function, name, partial(_function_cost, function, learner)
    return None, None, None


def _takes_lambda(function: Callable) -> bool:
    return any(role_of(p.name, ("lmbda",)) for p in signature_parameters(function))


def _method_cost(function: Callable, examples: Any, lmbda: float, n: int) -> float:
    """``cost(data, λ, n)``: the examples as one argument, or as X and Y."""
    names = [p.name for p in signature_parameters(function)]
    keywords = {name: lmbda for name in names if role_of(name, ("lmbda",))}
    keywords.update({name: n for name in names if role_of(name, ("n",))})
    x = next((name for name in names if role_of(name, ("x",))), None)
    y = next((name for name in names if role_of(name, ("y",))), None)
    if x and y and isinstance(examples, tuple):
        return float(function(**keywords, **{x: examples[0], y: examples[1]}))
    return float(function(examples, **keywords))


def _function_cost(function: Callable, learner: Learner, examples: Any, lmbda, n) -> float:
    """A module's cost function: the targets, a stand-in for the outputs (same shape), the
    parameters (the network's dict), λ and n, each by its argument's name."""
    targets = examples[1] if isinstance(examples, tuple) else np.asarray(examples)
    arguments = {}
    for parameter in signature_parameters(function):
        name = parameter.name
        if role_of(name, ("lmbda",)):
            arguments[name] = lmbda
        elif role_of(name, ("n",)):
            arguments[name] = n
        elif name in OUTPUT_NAMES:
            arguments[name] = np.full(np.shape(targets), 0.5)
        elif role_of(name, ("y",)):
            arguments[name] = targets
        elif role_of(name, ("x",)) and isinstance(examples, tuple):
            arguments[name] = examples[0]
        elif name in NETWORK_NAMES:
            arguments[name] = learner.root
        elif required(parameter):
            raise TypeError(f"no value for {name}")
    return float(function(**arguments))
