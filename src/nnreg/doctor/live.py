"""The doctor on a live network: ``nnreg.doctor.check(net)`` (and ``%nnreg_doctor net`` after
``%load_ext nnreg``) diagnoses the network a learner has built in their notebook kernel or
Colab — where the notebook file is often not on disk.

Two sides:

* **the kernel's** (:func:`check`): the network and the functions and classes of the
  notebook's namespace are pickled by value (cloudpickle), with the
  source lines of the cells they were defined in (IPython keeps them in ``linecache``) and
  each cell's number (``In [5]``). Pickling reads and never writes: the learner's object and
  their random state are left as they were, bit for bit.
* **the child's** (:func:`diagnose_live`, run by :mod:`~nnreg.doctor.child` with the usual
  time limit): the copies are unpickled, the cells' lines put back in ``linecache``, and the
  usual pipeline runs on the copy (find → replay → measure → diagnose → report), probing
  the network at its own sizes.
"""

from __future__ import annotations

import inspect
import linecache
import os
import pickle
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

from nnreg.doctor.replay import DoctorError

IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}
"""Names IPython puts in a notebook's namespace: not the learner's."""
LARGEST_DEFINITION = 16 * 2**20
"""Bytes a function of the notebook may take once pickled: one that reads a global data set
(``X_test``) carries it along, and is left out rather than copied."""


# -- the kernel's side -------------------------------------------------------------------------
def check(
    network: Any,
    *,
    gradients: str | None = None,
    regularizer: str | None = None,
    timeout: float | None = None,
    namespace: dict[str, Any] | None = None,
):
    """Diagnose ``network``, an object (or dict of arrays) already built in this kernel, in
    a child process stopped after ``timeout`` seconds (60 by default), on copies: the object
    and the random state are not changed. ``namespace`` holds the functions that update it
    (the caller's globals by default: the notebook's). Returns the
    :class:`~nnreg.doctor.report.Diagnosis` — the same findings as ``nnreg doctor`` on the
    notebook — which a notebook shows as text; raises :class:`DoctorError` when it cannot
    be probed."""
    from nnreg.doctor import DEFAULT_TIMEOUT, _check
    from nnreg.doctor.isolation import diagnose_in_child

    _check(regularizer)
    if network is None or isinstance(network, (str, bytes, os.PathLike, int, float)):
        raise DoctorError(
            f"check() takes your network object (e.g. check(net)), not {network!r}: for a "
            "file use nnreg.doctor.diagnose('PATH.py') or nnreg doctor PATH.py"
        )
    if namespace is None:
        namespace = sys._getframe(1).f_globals
    payload = _payload(network, namespace)
    folder = tempfile.mkdtemp(prefix="nnreg-doctor-")
    path = Path(folder) / "network.pickle"
    try:
        with open(path, "wb") as file:
            file.write(payload)
        shown = _shown(network)
        try:
            diagnosis = diagnose_in_child(
                shown,
                gradients,
                regularizer,
                DEFAULT_TIMEOUT if timeout is None else timeout,
                live={"payload": str(path), "path": list(sys.path), "cwd": os.getcwd()},
            )
        except DoctorError as error:
            raise DoctorError(str(error).replace("--timeout SECONDS", "timeout=SECONDS")) from None
    finally:
        path.unlink(missing_ok=True)
        os.rmdir(folder)
    return diagnosis


def _payload(network: Any, namespace: dict[str, Any]) -> bytes:
    """The network, the notebook's own functions and classes, their cells' lines and
    numbers, pickled by value."""
    import cloudpickle

    try:
        copied = cloudpickle.dumps(network)
    except Exception as error:  # noqa: BLE001 - any object of theirs may refuse
        raise DoctorError(
            f"your network cannot be copied for the doctor ({type(error).__name__}: {error}); "
            "it needs an object whose arrays can be pickled (open files, locks and "
            "generators cannot)"
        ) from None
    kept = {}
    for name, value in namespace.items():
        if name.startswith("_") or name in IPYTHON_NAMES or not _definition(value):
            continue
        try:
            copy = cloudpickle.dumps(value)
        except Exception:  # noqa: BLE001 - left out: the doctor finds what it needs without
            continue
        if len(copy) <= LARGEST_DEFINITION:
            kept[name] = copy
    functions = _functions([type(network), *(namespace[name] for name in kept)])
    files = {function.__code__.co_filename for function in functions}
    files = {file for file in files if not file.startswith("<")}
    sources = {file: linecache.getlines(file) for file in files}
    return pickle.dumps(
        {
            "network": copied,
            "namespace": kept,
            "sources": {file: lines for file, lines in sources.items() if lines},
            "files": {_key(f): f.__code__.co_filename for f in functions},
            "cells": _cell_numbers(files),
            "name": _shown(network),
        }
    )


def _functions(owners: list[Any]) -> list[Any]:
    """The functions among ``owners`` and the methods of the classes among them."""
    found = []
    for owner in owners:
        if inspect.isfunction(owner):
            found.append(owner)
        elif inspect.isclass(owner) and owner.__module__ != "builtins":
            for value in vars(owner).values():
                value = getattr(value, "__func__", getattr(value, "fget", value))
                if inspect.isfunction(value):
                    found.append(value)
    return found


def _key(function: Any) -> str:
    return f"{function.__qualname__}:{function.__code__.co_firstlineno}"


def _restore_files(owners: list[Any], files: dict[str, str]) -> None:
    """Give the copied functions back the files (cells) their code came from: the copy's
    code says ``<dynamic-code>``, and quoting a line needs the file."""
    for function in _functions(owners):
        file = files.get(_key(function))
        if file:
            function.__code__ = _in_file(function.__code__, file)


def _in_file(code: types.CodeType, file: str) -> types.CodeType:
    constants = tuple(
        _in_file(c, file) if isinstance(c, types.CodeType) else c for c in code.co_consts
    )
    return code.replace(co_filename=file, co_consts=constants)


def _definition(value: Any) -> bool:
    """A function or class defined in the notebook (or a module of the learner's)."""
    if not (inspect.isfunction(value) or inspect.isclass(value)):
        return inspect.ismodule(value)
    return getattr(value, "__module__", "") == "__main__" or _learners(value)


def _learners(value: Any) -> bool:
    try:
        file = Path(inspect.getfile(value)).resolve()
    except (TypeError, OSError):
        return False
    return "site-packages" not in file.parts and "nnreg" not in file.parts


def _cell_numbers(files: set[str]) -> dict[str, int]:
    """Each cell file's execution number (``In [5]``), as IPython keeps it."""
    try:
        from IPython import get_ipython
    except ImportError:
        return {}
    shell = get_ipython()
    numbers = getattr(getattr(shell, "compile", None), "_filename_map", {}) or {}
    return {file: numbers[file] for file in files if isinstance(numbers.get(file), int)}


def _shown(network: Any) -> str:
    return f"your {type(network).__name__}" if not isinstance(network, dict) else "your dict"


# -- the child's side --------------------------------------------------------------------------
def diagnose_live(
    request: dict, gradients: str | None = None, regularizer: str | None = None
) -> tuple[Any, Any]:
    """The learner and its diagnosis for a pickled live network (the child's side)."""
    from nnreg.doctor import _diagnose_learner
    from nnreg.doctor.building import parameters_of
    from nnreg.doctor.find import learner_for, sizes_of

    for folder in reversed(request.get("path", [])):
        if folder and folder not in sys.path:
            sys.path.insert(0, folder)
    with open(request["payload"], "rb") as file:
        payload = pickle.load(file)
    for filename, lines in payload["sources"].items():
        linecache.cache[filename] = (sum(map(len, lines)), None, lines, filename)
    module = types.ModuleType("__main__")
    module.__file__ = next(iter(payload["sources"]), str(Path(request["cwd"]) / "notebook"))
    for name, value in payload["namespace"].items():
        try:
            setattr(module, name, pickle.loads(value))
        except Exception:  # noqa: BLE001 - a definition needing what is not here
            continue
    network = pickle.loads(payload["network"])
    _restore_files([type(network), *vars(module).values()], payload.get("files", {}))
    known = parameters_of(network)
    if not known:
        raise DoctorError(
            f"{payload['name']} holds no chain of weight matrices the doctor can find (weights "
            "as numpy arrays, layer after layer, in attributes, lists or a dict)"
        )
    cells = payload["cells"]
    source = _source_of(network, payload["sources"], module)
    notes = [f"diagnosed a copy of {payload['name']}, at its own sizes; yours was not changed"]
    learner = learner_for(
        network,
        type(network).__name__ if not isinstance(network, dict) else "network",
        Path(source),
        notes,
        int,
        gradients,
        module,
        sizes=sizes_of(known, network),
    )
    learner.file_labels = {file: f"In [{number}]" for file, number in cells.items()}
    return learner, _diagnose_learner(learner, regularizer)


def _source_of(network: Any, sources: dict[str, list[str]], module: Any) -> str:
    """The cell (file) the network's class was defined in; else the first kept one."""
    for function in vars(type(network)).values():
        if inspect.isfunction(function):
            return function.__code__.co_filename
    return module.__file__
