"""Loading a learner's module and finding its network: class, parameters, update method,
gradient method and cost function — without modifying or writing anything next to it.

What the doctor accepts, and how it finds each part:

* the file: ``PATH.py`` or a notebook ``PATH.ipynb`` (its imports and definitions, see
  :mod:`~nnreg.doctor.notebooks`), imported with its folder first on ``sys.path``, as
  ``python PATH.py`` would (so ``import mnist_loader`` of a sibling file works);
* the class: the one with an update method, built as ``Class([3, 4, 2])`` or
  ``Class(3, 4, 2)`` (or ``PATH.py:make_network``, a function of the sizes);
* the parameters: see :mod:`~nnreg.doctor.parameters`;
* the update: by name (``update_mini_batch``, …), else the one method whose signature
  takes a mini-batch and η; its arguments by name (else in the book's order), λ and n
  possibly kept on the object (``self.lmbda``), further required arguments given neutral
  values (momentum μ = 0) — each such choice is written into :attr:`Learner.notes`;
* the gradient method: the method the update calls that returns one array per weight and
  bias, found by running one trial update with every method of the instance watched.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import io
import linecache
import numbers
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from nnreg.doctor.notebooks import NotebookError, read_notebook
from nnreg.doctor.parameters import Parameter, leaves
from nnreg.doctor.parameters import find_parameters as _find_parameters

PROBE_SIZES = [3, 4, 2]
"""The tiny network every probe builds: 3 inputs, 4 hidden units, 2 outputs."""

UPDATE_NAMES = ("update_mini_batch", "update_batch", "train_step", "sgd_step", "update")
GRADIENT_NAMES = (
    "backprop",
    "backpropagation",
    "back_propagation",
    "backward",
    "gradients",
    "compute_gradients",
)
COST_NAMES = ("total_cost", "cost", "compute_cost", "regularized_cost", "loss")
ARGUMENT_NAMES = {
    "batch": ("mini_batch", "minibatch", "batch", "data", "mb", "batch_data"),
    "eta": ("eta", "lr", "learning_rate", "alpha", "step_size"),
    "lmbda": (
        "lmbda",
        "lmbd",
        "lam",
        "lamda",
        "lambda_",
        "lambd",
        "reg",
        "reg_lambda",
        "l2",
        "lmb",
        "l2_lambda",
        "reg_strength",
    ),
    "n": ("n", "n_train", "training_set_size", "n_total", "N", "n_samples", "n_training"),
}
MOMENTUM_NAMES = ("mu", "momentum", "beta", "beta1", "gamma", "rho", "friction")
"""Extra update arguments that switch momentum on: the doctor sets them to 0."""

PROTOCOL = (
    "the doctor expects a class built as Class(sizes) (e.g. Class([3, 4, 2])) holding its "
    "weights and biases (lists `weights`/`biases` or `W`/`B`, layer objects with `W` and "
    "`b`, or a dict of arrays W1, b1, …), an update method taking a mini-batch of (x, y) "
    "column vectors and η (λ and n as arguments or attributes such as self.lmbda), and a "
    "gradient method that the update calls (name it with --gradients NAME if the doctor "
    "does not find it). For anything else write a function make_network(sizes) that "
    "builds your network and point the doctor at it: PATH.py:make_network"
)
TRIAL = {"eta": 0.5, "lmbda": 5.0, "n": 1000, "m": 10}
"""The setting of the trial update that finds the gradient method."""


@contextlib.contextmanager
def quietly():
    """Run the learner's code without its prints (they would corrupt --json) or NumPy's
    floating-point warnings."""
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        np.errstate(all="ignore"),
    ):
        yield


class DoctorError(Exception):
    """The learner's code could not be loaded or probed; the message says what to do."""


@dataclass
class Learner:
    """The learner's network as the probes see it."""

    source: Path
    name: str
    instance: Any
    parameters: list[Parameter]
    update: Callable
    update_arguments: dict[str, str]
    """Our names (batch, eta, lmbda, n) -> the names in their code: the update's parameter
    names, or the instance attributes listed in :attr:`attribute_arguments`."""
    gradient_name: str
    cost: Callable | None
    cost_name: str | None
    attribute_arguments: tuple[str, ...] = ()
    """Which of ours (``lmbda``, ``n``) are set as attributes of the instance, not passed."""
    fixed_arguments: dict[str, Any] = field(default_factory=dict)
    """Further required arguments of the update, and the neutral values they are given."""
    notes: list[str] = field(default_factory=list)
    """How the doctor had to call the learner's code (μ set to 0, λ set on the object, …)."""
    line_label: Callable[[int], str | int] = int
    """A line of the learner's module as the learner finds it (``cell 3, line 7`` in a
    notebook)."""
    make_batch: Callable[[int, np.random.Generator], Any] = None  # type: ignore[assignment]
    """A mini-batch of m examples in the layout the update takes: the book's (x, y) column
    vectors by default, or the recorded real mini-batch, cut or repeated to m examples."""

    def __post_init__(self) -> None:
        if self.make_batch is None:
            self.make_batch = book_batch

    def call_update(self, batch, eta: float, lmbda: float, n: int) -> None:
        values = {"batch": batch, "eta": eta, "lmbda": lmbda, "n": n}
        keywords = dict(self.fixed_arguments)
        for ours, theirs in self.update_arguments.items():
            if ours in self.attribute_arguments:
                setattr(self.instance, theirs, values[ours])
            else:
                keywords[theirs] = values[ours]
        self.update(**keywords)

    def snapshot(self) -> list[np.ndarray]:
        return [np.array(p.get(self.instance), dtype=float) for p in self.parameters]


def load_learner(target: str, gradients: str | None = None) -> Learner:
    """Import ``PATH.py[:NAME]`` (or ``PATH.ipynb[:NAME]``) and build the learner's
    network on :data:`PROBE_SIZES`."""
    path_text, _, name = target.partition(":")
    path = Path(path_text)
    if path.suffix not in (".py", ".ipynb") or not path.is_file():
        raise DoctorError(
            f"{path} is not a Python file or notebook: give PATH.py, PATH.ipynb or "
            "PATH.py:ClassName"
        )
    module, line_label, notes = _import_notebook(path) if path.suffix == ".ipynb" else _import(path)
    factory, name, sibling = _find_factory(module, name, path)
    if sibling:  # `from network import Net`: the lines the findings point to are there
        notes = [*notes, f"{name} is defined in {sibling}, which {path.name} imports"]
        line_label = partial("{}, line {}".format, sibling)
    instance = _build(factory, name, path)
    return learner_for(instance, name, path, notes, line_label, gradients)


def learner_for(
    instance: Any,
    name: str,
    path: Path,
    notes: list[str],
    line_label: Callable[[int], str | int],
    gradients: str | None,
    update_name: str | None = None,
    recorded: dict[str, Any] | None = None,
) -> Learner:
    """The :class:`Learner` around a built network: its parameters, update (``update_name``
    or found), the update's arguments and gradient method. With ``recorded`` (a real call's
    arguments by name), mini-batches are cut from the recorded one and further arguments
    take their recorded values."""
    parameters = find_parameters(instance, name)
    update_name = update_name or _find_update(instance, name)
    update = getattr(instance, update_name)
    arguments = _map_arguments(update, update_name, instance, name)
    make_batch = book_batch
    if recorded is not None:
        make_batch = partial(resized_batch, recorded[arguments.names["batch"]])
        for argument in arguments.fixed:
            if argument in recorded and argument not in MOMENTUM_NAMES:
                arguments.fixed[argument] = recorded[argument]
    cost_name = next((n for n in COST_NAMES if callable(getattr(instance, n, None))), None)
    learner = Learner(
        source=path,
        name=name,
        instance=instance,
        parameters=parameters,
        update=update,
        update_arguments=arguments.names,
        gradient_name="",  # found below, by a trial update of this learner
        cost=getattr(instance, cost_name) if cost_name else None,
        cost_name=cost_name,
        attribute_arguments=arguments.on_instance,
        fixed_arguments=arguments.fixed,
        notes=notes + arguments.notes,
        line_label=line_label,
        make_batch=make_batch,
    )
    learner.gradient_name = _find_gradient(learner, update_name, gradients)
    return learner


def resized_batch(recorded: Any, m: int, rng: np.random.Generator | None = None) -> Any:
    """The recorded mini-batch with m examples (its own, cut or repeated in order), in its
    own layout: a list of examples, an array with one example per row or per column, or a
    pair (X, Y) of such arrays."""
    if isinstance(recorded, (list, tuple)) and _is_array_pair(recorded):
        count = _examples(recorded[0])
        return type(recorded)(_take(a, m, count) for a in recorded)
    if isinstance(recorded, np.ndarray):
        return _take(recorded, m, _examples(recorded))
    items = list(recorded)
    if not items:
        raise DoctorError("the recorded mini-batch is empty: the doctor cannot replay it")
    return [items[i % len(items)] for i in range(m)]


def _is_array_pair(value) -> bool:
    return (
        len(value) == 2
        and all(isinstance(a, np.ndarray) and a.ndim >= 1 for a in value)
        and value[0].shape[:1] == value[1].shape[:1]
    )


def _examples(array: np.ndarray) -> int:
    return array.shape[0]


def _take(array: np.ndarray, m: int, count: int) -> np.ndarray:
    """Rows 0, 1, …, m − 1 (modulo the recorded ``count``) of ``array``."""
    return np.take(array, np.arange(m) % count, axis=0)


# -- importing --------------------------------------------------------------------------------
@contextlib.contextmanager
def _folder_first_on_path(folder: Path):
    """The learner's folder first on ``sys.path`` (as ``python their_file.py`` has it) and
    no bytecode written next to their files, for the time of the import."""
    entry = str(folder.resolve())
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    writes_bytecode = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        yield
    finally:
        sys.dont_write_bytecode = writes_bytecode
        if added and entry in sys.path:
            sys.path.remove(entry)


def _import(path: Path):
    """Run the module without writing bytecode next to it; (module, line label, notes)."""
    name = f"nnreg_doctor_subject_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as an import does: dataclasses and pickle look it up
    _execute(path, lambda: spec.loader.exec_module(module), int)
    return module, int, []


def _import_notebook(path: Path):
    """The notebook's imports and definitions as a module; (module, line label, notes)."""
    try:
        notebook = read_notebook(path)
    except NotebookError as error:
        raise DoctorError(str(error)) from None
    name = f"nnreg_doctor_subject_{path.stem}"
    module = type(sys)(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    # inspect finds the source of the learner's functions (for "line(s) to change") here
    lines = notebook.text.splitlines(keepends=True)
    linecache.cache[str(path)] = (len(notebook.text), None, lines, str(path))
    code = compile(notebook.text, str(path), "exec", dont_inherit=True)
    _execute(path, lambda: exec(code, module.__dict__), notebook.label)
    skipped = notebook.skipped
    notes = [
        f"{path.name}: ran the notebook's imports and definitions only; "
        + ("1 other top-level statement was" if skipped == 1 else f"{skipped} others were")
        + " not run (loading data, training, printing)"
    ]
    return module, notebook.label, notes if skipped else []


def _execute(path: Path, run: Callable[[], None], label: Callable[[int], str | int]) -> None:
    with _folder_first_on_path(path.parent):
        try:
            with quietly():
                run()
        except BaseException as error:  # the learner's code may raise anything, even SystemExit
            if isinstance(error, KeyboardInterrupt):
                raise
            hint = (
                ": the doctor imports your file as a module — put the code that trains (and "
                'exits) under `if __name__ == "__main__":`'
                if isinstance(error, SystemExit)
                else ""
            )
            where = describe(error, path, label)
            raise DoctorError(f"importing {path} failed: {where}{hint}") from None


def notebook_label(path: Path, everything: bool = False) -> Callable[[int], str | int]:
    """Line numbers as the learner finds them: ``cell 3, line 7`` in a notebook (of its
    definitions, or with ``everything``, of all its code)."""
    if Path(path).suffix != ".ipynb":
        return int
    try:
        return read_notebook(Path(path), everything).label
    except NotebookError:
        return int


def describe(error: BaseException, path: Path, label: Callable[[int], str | int] = int) -> str:
    """``ZeroDivisionError: division by zero (line 7)``: the error and where in their code."""
    frames = [(f.filename, f.lineno) for f in traceback.extract_tb(error.__traceback__)]
    where = location(frames, path, label)
    return f"{type(error).__name__}: {error}" + (f" ({where})" if where else "")


def location(
    frames: Iterable[tuple[str, int]], path: Path, label: Callable[[int], str | int] = int
) -> str | None:
    """Where in the learner's files the innermost of ``frames`` (outermost first) is:
    ``line 7``, ``cell 3, line 2`` or ``mnist_loader.py, line 12``; None if in none."""
    target, folder = path.resolve(), path.resolve().parent
    for filename, line in reversed(list(frames)):
        try:
            file = Path(filename).resolve()
        except (OSError, ValueError):
            continue
        if file == target:
            where = label(line)
            return where if isinstance(where, str) else f"line {where}"
        if file.parent == folder and file.suffix == ".py":
            return f"{file.name}, line {line}"
    return None


# -- the class and its parameters -------------------------------------------------------------
def _find_factory(module, name: str, path: Path) -> tuple[Callable, str, str | None]:
    """The class (or function) to build, and the sibling file it comes from, if it does."""
    if name:
        factory = getattr(module, name, None)
        if not callable(factory):
            raise DoctorError(f"{path} has no class or function named {name!r}")
        return factory, name, None
    classes = [value for value in vars(module).values() if inspect.isclass(value)]
    own = [c for c in classes if c.__module__ == module.__name__]
    siblings = [c for c in classes if c not in own and _defined_in(c, path.parent)]
    for group in (own, siblings):  # `from network import Net` in the file given
        candidates = [c for c in group if any(callable(getattr(c, n, None)) for n in UPDATE_NAMES)]
        candidates = candidates or [c for c in group if _updates_by_signature(c)]
        if candidates:
            break
    if len(candidates) != 1:
        found = "no class" if not candidates else f"{len(candidates)} classes"
        names = ", ".join(c.__name__ for c in candidates)
        raise DoctorError(
            f"{path}: found {found} with an update method ({', '.join(UPDATE_NAMES)}, or a "
            "method taking a mini-batch and η)"
            + (f": {names}; name one as {path}:ClassName" if candidates else f"; {PROTOCOL}")
        )
    chosen = candidates[0]
    if group is own:
        return chosen, chosen.__name__, None
    file = Path(inspect.getfile(chosen)).name
    return chosen, chosen.__name__, file


def _defined_in(cls: type, folder: Path) -> bool:
    try:
        return Path(inspect.getfile(cls)).resolve().parent == folder.resolve()
    except (TypeError, OSError):  # a builtin class
        return False


def _build(factory: Callable, name: str, path: Path) -> Any:
    attempts = ((list(PROBE_SIZES),), tuple(PROBE_SIZES))
    problems = []
    for arguments in attempts:
        try:
            with quietly():
                return factory(*arguments)
        except Exception as error:  # noqa: BLE001 - their constructor may raise anything
            problems.append(f"{name}{arguments!r}: {type(error).__name__}: {error}")
    raise DoctorError(
        f"could not build the network: {'; '.join(problems)}. {PROTOCOL}.\n"
        + adapter_text(factory, name, path)
    )


def adapter_text(factory: Callable, name: str, path: Path) -> str:
    """A ready-to-edit adapter for a constructor the doctor cannot call as ``Class(sizes)``
    (or run your training script with ``nnreg doctor --run``)."""
    try:
        wanted = ", ".join(p.name for p in _signature_names(factory))
    except (TypeError, ValueError):
        wanted = "sizes"
    return (
        f"Either run your training script with `nnreg doctor --run YOUR_SCRIPT.py`, or save "
        f"this next to {path.name} as adapter.py, fill in the arguments and run `nnreg doctor "
        f"adapter.py:make_network`:\n\n"
        f"    from {path.stem} import {name}\n\n\n"
        f"    def make_network(sizes):\n"
        f"        return {name}(sizes)  # {name} takes ({wanted}): give the others here\n"
    )


def find_parameters(instance: Any, name: str) -> list[Parameter]:
    """Weights and biases (see :mod:`~nnreg.doctor.parameters`), or a DoctorError."""
    found = _find_parameters(instance, PROBE_SIZES) or _find_parameters(instance)
    if not found:
        raise DoctorError(f"{name} has no parameters the doctor recognizes. {PROTOCOL}")
    return found


# -- the update and its arguments -------------------------------------------------------------
def _signature_names(function: Callable) -> list[inspect.Parameter]:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p for p in parameters if p.kind in kinds and p.name != "self"]


def _updates_by_signature(owner: Any) -> list[str]:
    """Methods whose signature takes a mini-batch and η (by their names)."""
    found = []
    for method in dir(owner):
        function = getattr(owner, method, None)
        if method.startswith("__") or not callable(function) or inspect.isclass(function):
            continue
        names = {p.name for p in _signature_names(function)}
        if names & set(ARGUMENT_NAMES["batch"]) and names & set(ARGUMENT_NAMES["eta"]):
            found.append(method)
    return found


def _find_update(instance: Any, name: str) -> str:
    for candidate in UPDATE_NAMES:
        if callable(getattr(instance, candidate, None)):
            return candidate
    found = _updates_by_signature(type(instance))
    if len(found) == 1:
        return found[0]
    why = f"several methods take a mini-batch and η ({', '.join(found)})" if found else "none"
    raise DoctorError(
        f"{name} has no update method: looked for {', '.join(UPDATE_NAMES)} and for a method "
        f"taking a mini-batch and η — {why}. {PROTOCOL}"
    )


@dataclass
class ArgumentMap:
    names: dict[str, str]
    on_instance: tuple[str, ...]
    fixed: dict[str, Any]
    notes: list[str]


def _map_arguments(update: Callable, update_name: str, instance: Any, name: str) -> ArgumentMap:
    """Which argument (or attribute) is the mini-batch, η, λ and n; neutral values for the
    update's other required arguments."""
    parameters = _signature_names(update)
    required = [p.name for p in parameters if p.default is inspect.Parameter.empty]
    remaining = [p.name for p in parameters]
    names: dict[str, str] = {}
    for ours, aliases in ARGUMENT_NAMES.items():
        match = next((theirs for theirs in remaining if theirs in aliases), None)
        if match:
            names[ours] = match
            remaining.remove(match)
    on_instance = [ours for ours in ("lmbda", "n") if ours not in names]
    for ours in on_instance:
        attribute = _numeric_attribute(instance, ARGUMENT_NAMES[ours])
        if attribute:
            names[ours] = attribute
    on_instance = [ours for ours in on_instance if ours in names]
    unnamed = [p for p in remaining if p in required and p not in MOMENTUM_NAMES]
    for ours in ARGUMENT_NAMES:  # the book's order for whatever the names did not settle
        if ours not in names and unnamed:
            names[ours] = unnamed.pop(0)
            remaining.remove(names[ours])
    missing = [ours for ours in ("batch", "eta", "lmbda") if ours not in names]
    if missing:
        found = ", ".join(p.name for p in parameters)
        raise DoctorError(
            f"{name}.{update_name}({found}) takes {len(parameters)} arguments; the doctor "
            f"needs (mini_batch, eta, lmbda, n) to vary η, λ and n (λ and n may also be "
            f"attributes, such as self.lmbda and self.n). {PROTOCOL}"
        )
    notes = [
        f"λ is read from self.{names[ours]}: the doctor sets it before each call"
        if ours == "lmbda"
        else f"n is read from self.{names[ours]}: the doctor sets it before each call"
        for ours in on_instance
    ]
    if "n" not in names:
        notes.append(
            f"{update_name} takes no n (training-set size) and {name} keeps none as an "
            "attribute: n could not be varied, so a number your code divides by is read as "
            "a constant"
        )
    fixed = {theirs: 0.0 for theirs in remaining if theirs in required}
    notes += [
        f"{update_name}'s argument {theirs} was set to 0"
        + (
            " (momentum off): the doctor measures the plain step"
            if theirs in MOMENTUM_NAMES
            else ""
        )
        for theirs in fixed
    ]
    return ArgumentMap(names, tuple(on_instance), fixed, notes)


def _numeric_attribute(instance: Any, aliases: Iterable[str]) -> str | None:
    for attribute in aliases:
        value = getattr(instance, attribute, None)
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return attribute
    return None


# -- the gradient method ----------------------------------------------------------------------
def _find_gradient(learner: Learner, update_name: str, chosen: str | None) -> str:
    """``chosen`` (--gradients), else the outermost method called by a trial update that
    returns one array per parameter, else the first of :data:`GRADIENT_NAMES` it has."""
    instance, name = learner.instance, learner.name
    if chosen:
        if not callable(getattr(instance, chosen, None)):
            raise DoctorError(f"{name} has no method {chosen!r} (--gradients)")
        return chosen
    found = _gradient_by_behaviour(learner, update_name)
    if found:
        return found
    for candidate in GRADIENT_NAMES:
        if callable(getattr(instance, candidate, None)):
            return candidate
    raise DoctorError(
        f"{name} has no gradient method: looked for {', '.join(GRADIENT_NAMES)} and for a "
        f"method that {update_name} calls and that returns one array per weight and bias "
        f"(name it with --gradients NAME). {PROTOCOL}"
    )


def _gradient_by_behaviour(learner: Learner, update_name: str) -> str | None:
    instance = learner.instance
    sizes = sorted(p.get(instance).size for p in learner.parameters)
    calls: list[tuple[int, str]] = []  # (depth, method) of calls returning one per parameter
    depth = [0]

    def watched(method: str, function: Callable) -> Callable:
        def call(*arguments, **keywords):
            depth[0] += 1
            try:
                result = function(*arguments, **keywords)
            finally:
                depth[0] -= 1
            if sorted(leaf.size for leaf in leaves(result)) == sizes:
                calls.append((depth[0], method))
            return result

        return call

    own = set(_attributes(instance))
    wrapped = []
    for method in _methods(type(instance)):
        if method == update_name or method in own:
            continue
        try:
            setattr(instance, method, watched(method, getattr(instance, method)))
        except (AttributeError, TypeError):  # __slots__, read-only: not watched
            continue
        wrapped.append(method)
    try:
        with quietly():
            batch = learner.make_batch(TRIAL["m"], np.random.default_rng(0))
            learner.call_update(batch, TRIAL["eta"], TRIAL["lmbda"], TRIAL["n"])
    except Exception:  # noqa: BLE001 - the probes call the update again and say what it raised
        pass
    finally:
        for method in wrapped:
            with contextlib.suppress(AttributeError):
                delattr(instance, method)
    if not calls:
        return None
    outermost = min(d for d, _ in calls)
    candidates = [m for d, m in calls if d == outermost]
    return next((m for m in GRADIENT_NAMES if m in candidates), candidates[0])


def _methods(cls: type) -> list[str]:
    """Names of the functions defined in ``cls`` and its bases (not ``object``)."""
    names = []
    for owner in cls.__mro__[:-1]:
        for method, value in vars(owner).items():
            function = value.__func__ if isinstance(value, staticmethod) else value
            if inspect.isfunction(function) and not method.startswith("__") and method not in names:
                names.append(method)
    return names


def _attributes(value: Any) -> dict:
    try:
        return vars(value)
    except TypeError:
        return {}


def book_batch(m: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """m examples in the book's format for :data:`PROBE_SIZES`: (x, y) column vectors,
    y one-hot."""
    n_in, n_out = PROBE_SIZES[0], PROBE_SIZES[-1]
    return [(rng.uniform(0, 1, size=(n_in, 1)), np.eye(n_out)[:, [i % n_out]]) for i in range(m)]
