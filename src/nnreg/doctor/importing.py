"""Importing a learner's file or notebook as a module, as ``python`` would run it, without
writing anything next to it; and saying where in their files an error happened.

The learner's folder goes first on ``sys.path`` (so ``import mnist_loader`` of a sibling file
works), and so does the project's root — the nearest folder above it that is not a package —
so that ``from mypackage.training import …`` works from a file inside ``mypackage/``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import linecache
import sys
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path

from nnreg.doctor.notebooks import NotebookError, read_notebook, run_statements
from nnreg.doctor.replay import DoctorError, quietly


def import_file(path: Path):
    """The learner's ``.py`` file or notebook as a module: (module, line label, notes)."""
    return _import_notebook(path) if path.suffix == ".ipynb" else _import(path)


def project_root(folder: Path) -> Path:
    """The nearest folder at or above ``folder`` that is not a package (has no __init__.py):
    where ``python -m package.module`` would be run from."""
    folder = folder.resolve()
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        folder = folder.parent
    return folder


@contextlib.contextmanager
def _folder_first_on_path(folder: Path):
    """The learner's folder (and the project's root, when the folder is a package) first on
    ``sys.path`` (as ``python their_file.py`` has it) and no bytecode written next to their
    files, for the time of the import."""
    entries = list(dict.fromkeys([str(folder.resolve()), str(project_root(folder))]))
    added = [entry for entry in entries if entry not in sys.path]
    sys.path[:0] = added
    writes_bytecode = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        yield
    finally:
        sys.dont_write_bytecode = writes_bytecode
        for entry in added:
            if entry in sys.path:
                sys.path.remove(entry)


def _import(path: Path):
    """Run the module without writing bytecode next to it; (module, line label, notes). A
    file inside a package is imported under its package's name, so that its relative
    imports (``from .network import Net``) work."""
    root = project_root(path.parent)
    if root != path.parent.resolve():
        dotted = ".".join(path.resolve().relative_to(root).with_suffix("").parts)
        holder: dict = {}
        _execute(path, lambda: holder.update(module=importlib.import_module(dotted)), int)
        return holder["module"], int, []
    name = f"nnreg_doctor_subject_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as an import does: dataclasses and pickle look it up
    _execute(path, lambda: spec.loader.exec_module(module), int)
    return module, int, []


def _import_notebook(path: Path):
    """The notebook's imports and definitions as a module; (module, line label, notes).
    Cells that fail are left out and named in the notes, as Jupyter would let the learner
    go on with the others."""
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
    failed: list[str] = []
    _execute(
        path,
        lambda: failed.extend(run_statements(notebook, module.__dict__, str(path), notebook.label)),
        notebook.label,
    )
    skipped = notebook.skipped
    notes = [f"{path.name}: {text}" for text in notebook.broken + failed]
    if skipped:
        notes.append(
            f"{path.name}: ran the notebook's imports and definitions only; "
            + ("1 other top-level statement was" if skipped == 1 else f"{skipped} others were")
            + " not run (loading data, training, printing)"
        )
    return module, notebook.label, notes


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
