"""Capture by running: the learner's own training script (or notebook), run as they run it,
watched until a method first changes the parameters of the network object it belongs to.

That call is the update, found by what it does rather than by its name. A copy of the
network as it was just before the call, and the call's own arguments (the real mini-batch,
η, λ, n and whatever else it takes), are kept for the replay; then the script is stopped —
a script that would train for 30 epochs is stopped at its first update.
"""

from __future__ import annotations

import copy
import runpy
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnreg.doctor.importing import describe
from nnreg.doctor.notebooks import NotebookError, read_notebook
from nnreg.doctor.parameters import find_parameters
from nnreg.doctor.replay import DoctorError


@dataclass
class RecordedCall:
    """The first update the script made: the network before it, the method, its arguments."""

    instance: Any
    method: str
    arguments: dict[str, Any]
    """The call's arguments by parameter name (``self`` left out), as they were passed."""


class _Captured(BaseException):
    """Raised inside the script at the update's return, to stop it there (not an Exception,
    so the script's own ``except Exception`` does not swallow it)."""


def capture_update(path: Path, arguments: list[str], label: Callable = int) -> RecordedCall:
    """Run ``path`` (a ``.py`` script or an ``.ipynb`` notebook) as ``__main__`` with
    ``sys.argv = [path, *arguments]``, from its folder, until its first update; the
    recorded call, or a :class:`DoctorError` saying why there was none."""
    path = Path(path).resolve()
    watcher = _Watcher(path.parent)
    run = _notebook_runner(path) if path.suffix == ".ipynb" else _script_runner(path)
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
                "update: fix the error (run it with python as you usually do), then run the "
                "doctor again"
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
    """A trace function: at each call of a method of the learner's (a function defined in
    their folder whose first argument holds weights and biases) it keeps the parameters;
    at its return it compares them, and the first call that changed them is recorded."""

    def __init__(self, folder: Path) -> None:
        self.folder = str(folder)
        self.files: dict[str, bool] = {}
        self.open: dict[Any, tuple[Any, list, list[np.ndarray], dict[str, Any]]] = {}
        self.recorded: RecordedCall | None = None

    def theirs(self, filename: str) -> bool:
        """Code of the learner's: in their folder, or anywhere but Python's own library,
        installed packages and nnreg (a network module kept in another folder counts)."""
        if filename not in self.files:
            self.files[filename] = _learners_file(filename, self.folder)
        return self.files[filename]

    def trace(self, frame, event: str, argument):
        """The global trace function: called at each call of a Python function; returns a
        local one (for the return only) for the calls it keeps."""
        if event == "call" and self.called(frame):
            frame.f_trace_lines = False
            return self.local
        return None

    def local(self, frame, event: str, argument):
        if event == "return" and frame in self.open:
            self.returned(frame)
        return self.local

    def called(self, frame) -> bool:
        code = frame.f_code
        if code.co_argcount < 2 or code.co_name == "__init__" or not self.theirs(code.co_filename):
            return False
        names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        owner = frame.f_locals.get(names[0])
        parameters = _parameters(owner)
        if not parameters:
            return False
        before = [np.array(p.get(owner), dtype=float) for p in parameters]
        arguments = {name: frame.f_locals.get(name) for name in names[1:]}
        self.open[frame] = (owner, parameters, before, arguments)
        return True

    def returned(self, frame) -> None:
        owner, parameters, before, arguments = self.open.pop(frame)
        try:
            after = [np.asarray(p.get(owner), dtype=float) for p in parameters]
        except Exception:  # noqa: BLE001 - the parameters were replaced by something else
            return
        if all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(after, before)):
            return
        instance = copy.deepcopy(owner)
        for parameter, values in zip(_parameters(instance), before):
            parameter.set(instance, values.astype(np.asarray(parameter.get(instance)).dtype))
        self.recorded = RecordedCall(instance, frame.f_code.co_name, copy.deepcopy(arguments))
        sys.settrace(None)
        raise _Captured


def _parameters(owner: Any) -> list:
    """The weights and biases ``owner`` holds, or [] (for anything else, e.g. a number)."""
    if owner is None or isinstance(owner, (int, float, str, bytes, np.ndarray, list, tuple, dict)):
        return []
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


def _learners_file(filename: str, folder: str) -> bool:
    if filename.startswith("<"):
        return False
    try:
        resolved = str(Path(filename).resolve())
    except (OSError, ValueError):
        return False
    return resolved.startswith(folder) or not resolved.startswith(NOT_THEIRS)
