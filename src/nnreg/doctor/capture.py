"""Capture by running: the learner's own training script (or notebook), run as they run it,
watched until a method first changes the parameters of the network object it belongs to.

That call is the update, found by what it does rather than by its name. A copy of the
network as it was just before the call, and the call's own arguments (the real mini-batch,
η, λ, n and whatever else it takes), are kept for the replay; then the script is stopped —
a script that would train for 30 epochs is stopped at its first update.
"""

from __future__ import annotations

import os
import runpy
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnreg.doctor.importing import describe
from nnreg.doctor.notebooks import NotebookError, read_notebook
from nnreg.doctor.parameters import find_parameters
from nnreg.doctor.replay import DoctorError
from nnreg.doctor.setting import outer_values, usable


@dataclass
class RecordedCall:
    """The first update the script made: the call to replay, with the network as it was
    just before it."""

    network: Any
    """What holds the parameters — the network object, or the module for code that keeps
    them in a dict of a training function — restored to their values before the update."""
    function: Callable
    """The function to replay: a method, a free function (taking the network first), or a
    training loop."""
    method: str
    arguments: dict[str, Any]
    """The call's arguments by parameter name (``self`` left out), as they were passed."""
    takes_network: bool = False
    kind: str = "step"
    """"step" when one call of ``function`` was the update, "epoch" for a training loop."""
    attributes: dict[str, Any] = field(default_factory=dict)
    """The numbers its object held at the call (``self.lmbda``), before any replay."""
    outer: list[dict[str, float]] = field(default_factory=list)
    """What the enclosing training loops (innermost first) were given: η, λ, n, the
    mini-batch size, the number of training examples (see :mod:`~nnreg.doctor.setting`)."""

    @property
    def instance(self) -> Any:
        return self.network


class _Captured(BaseException):
    """Raised inside the script at the update's return, to stop it there (not an Exception,
    so the script's own ``except Exception`` does not swallow it)."""


def capture_update(path: Path, arguments: list[str], label: Callable = int) -> RecordedCall:
    """Run ``path`` (a ``.py`` script or an ``.ipynb`` notebook) as ``__main__`` with
    ``sys.argv = [path, *arguments]``, from its folder, until its first update; the
    recorded call, or a :class:`DoctorError` saying why there was none."""
    path = Path(path).resolve()
    watcher = _Watcher(path.parent)
    run = runner_for(path)
    argv = sys.argv
    sys.argv = [str(path), *arguments]
    sys.settrace(watcher.trace)
    try:
        run()
    except _Captured:
        pass
    except SystemExit as error:
        if watcher.recorded is None:
            raise DoctorError(
                f"{path.name} ended ({describe(error, path, label)}) before it called an "
                "update: the doctor watches your script until its first update changes a "
                "network's weights — does it train when run like this?"
            ) from None
    except Exception as error:  # noqa: BLE001 - their script may raise anything
        if watcher.recorded is None:
            raise DoctorError(
                f"{path.name} raised {describe(error, path, label)} before it called an "
                "update: "
                + (
                    _data_file_hint(error, path)
                    or _import_hint(error)
                    or "fix the error (run it with "
                    "python as you usually do), then run the doctor again"
                )
                + _without_run(path)
            ) from None
    finally:
        sys.settrace(None)
        sys.argv = argv
    if watcher.recorded is None:
        raise DoctorError(
            f"{path.name} ran to its end without calling an update that changes a network's "
            "weights and biases: the doctor needs a script that trains (a class whose method "
            "changes the arrays it holds, such as update_mini_batch)"
        )
    return watcher.recorded


EXPORTED = {"mnist.pkl.gz": "book", "mnist.npz": "keras"}
"""Data files learners' scripts read that ``nnreg data export`` writes."""


def _data_file_hint(error: Exception, path: Path) -> str | None:
    """For a missing ``mnist.pkl.gz`` or ``mnist.npz``: the command that writes it where the
    script looks for it."""
    missing = getattr(error, "filename", None)
    if not isinstance(error, FileNotFoundError) or not missing:
        return None
    name = Path(str(missing)).name
    if name not in EXPORTED:
        return None
    folder = Path(os.path.normpath(path.parent / Path(str(missing)).parent))
    return (
        f"{name} is MNIST in {'the book' if EXPORTED[name] == 'book' else 'Keras'}'s format: "
        f"write it with `nnreg data export --format {EXPORTED[name]} --out {folder}` (from "
        "nnreg's checked MNIST files, downloaded once), then run the doctor again"
    )


def _import_hint(error: Exception) -> str | None:
    """What a failed import means (a removed API, a module that exists only in Colab…)."""
    import ast
    import traceback

    from nnreg.doctor.notebooks import import_failure

    if not isinstance(error, ImportError):
        return None
    statement = None
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        try:
            statement = ast.parse((frame.line or "").strip()).body[0]
        except (SyntaxError, IndexError):
            continue
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            break
        statement = None
    text = import_failure(error, statement)
    return f"{text}; fix the import, then run the doctor again" if text else None


def _without_run(path: Path) -> str:
    """For a notebook: the doctor can still read its definitions, leaving failing cells out."""
    if path.suffix != ".ipynb":
        return ""
    return (
        f". Without --run, `nnreg doctor {path.name}` reads only the notebook's definitions "
        "(a failing cell is left out, as Jupyter leaves it); in the notebook itself, "
        "`nnreg.doctor.check(net)` diagnoses the network you built"
    )


def runner_for(path: Path) -> Callable[[], None]:
    """What runs the script (or every code cell of the notebook) at ``path`` as __main__."""
    return _notebook_runner(path) if path.suffix == ".ipynb" else _script_runner(path)


def _script_runner(path: Path) -> Callable[[], None]:
    return lambda: runpy.run_path(str(path), run_name="__main__")


def _notebook_runner(path: Path) -> Callable[[], None]:
    """Every code cell in order, as Run All does (shell and magic lines left out)."""
    try:
        notebook = read_notebook(path, everything=True)
    except NotebookError as error:
        raise DoctorError(str(error)) from None
    import linecache

    lines = notebook.text.splitlines(keepends=True)
    linecache.cache[str(path)] = (len(notebook.text), None, lines, str(path))
    code = compile(notebook.text, str(path), "exec", dont_inherit=True)
    return lambda: exec(code, {"__name__": "__main__", "__file__": str(path)})


class _Watcher:
    """A trace function over the learner's code (only at calls and returns: cheap). Every
    object or dict passed to a function of theirs that holds a chain of weights is kept
    with a copy of its parameters; at each call and return the copies are compared. The
    first change is the first update: made by the function returning (a step), or by the
    function that was running between two looks (an update written inline in a training
    loop). The innermost function on the stack that takes examples and λ is the one
    recorded, with its arguments as they were when it was called; then the script is
    stopped."""

    def __init__(self, folder: Path) -> None:
        self.folder = str(folder)
        self.files: dict[str, bool] = {}
        self.arguments: dict[Any, dict[str, Any]] = {}
        self.holders: list[tuple[Any, list, list[np.ndarray]]] = []
        self.looked_at: set[tuple[int, int]] = set()
        self.recorded: RecordedCall | None = None

    def theirs(self, filename: str) -> bool:
        """Code of the learner's: in their folder, or anywhere but Python's own library,
        installed packages and nnreg (a network module kept in another folder counts)."""
        if filename not in self.files:
            self.files[filename] = learners_file(filename, self.folder)
        return self.files[filename]

    def trace(self, frame, event: str, argument):
        """The global trace function: at each call of a function of the learner's."""
        if event != "call" or not self.theirs(frame.f_code.co_filename):
            return None
        if frame.f_code.co_name.startswith("<"):  # a comprehension or lambda: part of its caller
            return None
        self.look(frame.f_back, returning=False)  # what changed since was done by the caller
        code = frame.f_code
        names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        self.arguments[frame] = {name: frame.f_locals.get(name) for name in names}
        for value in self.arguments[frame].values():
            self.keep(value)
        frame.f_trace_lines = False
        return self.local

    def local(self, frame, event: str, argument):
        if event == "return":
            self.look(frame, returning=True)
            self.arguments.pop(frame, None)
        return self.local

    def keep(self, value: Any) -> None:
        """Keep ``value`` with a copy of its parameters, when it holds a chain of weights."""
        if value is None or isinstance(value, (int, float, str, bytes, bool, np.ndarray)):
            return
        key = (id(value), _size(value))  # looked at again once it holds more (made in fit)
        if key in self.looked_at or any(holder is value for holder, _, _ in self.holders):
            return
        self.looked_at.add(key)
        parameters = _parameters(value)
        if parameters:
            self.holders.append((value, parameters, _copies(value, parameters)))

    def look(self, frame, returning: bool) -> None:
        for holder, parameters, before in self.holders:
            try:
                now = [np.asarray(p.get(holder)) for p in parameters]
            except Exception:  # noqa: BLE001 - replaced by something else
                continue
            if all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(now, before)):
                continue
            self.record(frame, holder, parameters, before, returning)

    def record(self, frame, holder, parameters, before, returning: bool) -> None:
        """Record the innermost function on the stack (from ``frame`` out) that takes
        examples — one taking λ by a known name first — and stop the script."""
        found = []
        while frame is not None:
            if frame in self.arguments:
                found.append(_replayable(frame, self.arguments[frame], holder))
            frame = frame.f_back
        found = [call for call in found if call is not None]
        # the innermost taking λ by a name the doctor knows; else the innermost taking
        # examples (its λ is then found by what varying its arguments does)
        chosen = next((call for call in found if call[-1]), found[0] if found else None)
        if chosen is None:
            return
        function, name, arguments, takes_network, kind, owner, _ = chosen
        if kind == "step" and not returning:
            return  # an update still running (weights done, biases next): seen at its return
        for parameter, values in zip(parameters, before):
            parameter.set(holder, values.astype(np.asarray(parameter.get(holder)).dtype))
        kind = kind if returning else "epoch"
        network = owner if owner is not None else (holder if takes_network else None)
        outer = [_told(call) for call in found[found.index(chosen) + 1 :]]
        self.recorded = RecordedCall(
            network, function, name, arguments, takes_network, kind, _numbers(owner), outer
        )
        sys.settrace(None)
        raise _Captured


def _numbers(owner: Any) -> dict[str, Any]:
    """The numbers an object holds as attributes (η, λ… set on ``self``), as they are now."""
    try:
        return {k: v for k, v in vars(owner).items() if usable(v)} if owner is not None else {}
    except TypeError:
        return {}


def _told(call: tuple) -> dict[str, float]:
    """What an enclosing call (of :func:`_replayable`) was given: η, λ, n, data size."""
    from nnreg.doctor.roles import bind

    function, _, arguments, takes_network, _, owner, _ = call
    binding = bind(function, owner, 1 if takes_network else 0)
    return outer_values(binding, arguments, _numbers(owner))


def _size(value: Any) -> int:
    """How many entries an object (its attributes) or a container holds."""
    try:
        return len(value) if isinstance(value, (dict, list, tuple)) else len(vars(value))
    except TypeError:
        return 0


def _copies(holder: Any, parameters: list) -> list[np.ndarray]:
    return [np.array(p.get(holder), dtype=float) for p in parameters]


def _replayable(frame, arguments: dict[str, Any], holder: Any):
    """(function, name, arguments, takes the network first, kind, its object, whether it
    takes λ by a name the doctor knows) when the function running in ``frame`` takes
    examples; else None."""
    from nnreg.doctor.roles import bind
    from nnreg.doctor.units import unit_kind

    code = frame.f_code
    names = list(arguments)
    first = arguments.get(names[0]) if names else None
    function, owner = None, None
    method = getattr(first, code.co_name, None) if first is not None else None
    if getattr(method, "__code__", None) is code:
        function, owner = method, first
        arguments = {k: v for k, v in arguments.items() if k != names[0]}
    else:
        candidate = frame.f_globals.get(code.co_name)
        if getattr(candidate, "__code__", None) is code:
            function = candidate
    if function is None:
        return None
    takes_network = owner is None and names and first is holder
    skip = 1 if takes_network else 0
    kind = unit_kind(function, owner, skip)
    if kind is None:
        return None
    named_lambda = bind(function, owner, skip).has("lmbda")
    if takes_network:
        arguments = {k: v for k, v in arguments.items() if k != names[0]}
    return function, code.co_name, arguments, bool(takes_network), kind, owner, named_lambda


def _parameters(owner: Any) -> list:
    """The weights and biases ``owner`` holds (an object, a dict, a list of layers), or []."""
    if isinstance(owner, (list, tuple)) and len(owner) > 64:
        return []  # a list of examples, not a network
    try:
        return find_parameters(owner)
    except Exception:  # noqa: BLE001 - an object of theirs whose attributes raise
        return []


NOT_THEIRS = tuple(
    {
        str(Path(p).resolve())
        for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path[1:])
        if p and ("site-packages" in p or "dist-packages" in p or p.startswith(sys.base_prefix))
    }
    | {str(Path(__file__).resolve().parents[1])}
)
"""Folders whose code is not the learner's: the standard library, installed packages, nnreg."""


def learners_file(filename: str, folder: str) -> bool:
    if filename.startswith("<"):
        return False
    try:
        resolved = str(Path(filename).resolve())
    except (OSError, ValueError):
        return False
    return resolved.startswith(folder) or not resolved.startswith(NOT_THEIRS)
