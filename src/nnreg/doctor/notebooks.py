"""A notebook (``.ipynb``) as a module: its imports and definitions, without its training.

A notebook is JSON: a list of cells, each with its source. The doctor joins the code cells
into one module, but runs only what *defines* things — imports, ``def``, ``class`` and
assignments that call nothing but numpy or math — because a notebook's other top-level
statements load data and train, which would take minutes and is not what is probed. Shell
and magic lines (``!pip install …``, ``%matplotlib inline``) are dropped, and so are cells
run by another interpreter (``%%bash``, ``%%writefile``). Lines of the joined module map
back to "cell N, line L", counting every cell from the top, text cells too.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

PYTHON_CELL_MAGICS = ("%%time", "%%timeit", "%%capture")
"""Cell magics whose body is Python: the body is kept."""
DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
SAFE_CALLS = ("np", "numpy", "math")
"""Assignments that call only into these modules (``sigmoid_vec = np.vectorize(sigmoid)``)
define something and are run; any other call may load data or train, and is skipped."""


class NotebookError(ValueError):
    """The notebook cannot be read; the message says why."""


@dataclass
class NotebookSource:
    """The module made from a notebook's code cells."""

    text: str
    origins: list[tuple[int, int]]
    """For each line of ``text`` (0-based), its cell (1-based) and line in that cell."""
    skipped: int
    """Top-level statements not run (training, data loading, printing)."""

    def label(self, line: int) -> str:
        """``cell 3, line 7`` for line ``line`` (1-based) of the joined module."""
        if 1 <= line <= len(self.origins):
            cell, within = self.origins[line - 1]
            return f"cell {cell}, line {within}"
        return f"line {line}"


def read_notebook(path: Path, everything: bool = False) -> NotebookSource:
    """The definitions in the code cells of the notebook at ``path`` (with ``everything``,
    all of their code, as Run All runs it)."""
    cells = _cells(Path(path))
    lines: list[str] = []
    origins: list[tuple[int, int]] = []
    skipped = 0
    for number, cell in enumerate(cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        cell_lines = _python_lines("".join(source) if isinstance(source, list) else source)
        kept, dropped = (cell_lines, 0) if everything else _definitions_only(cell_lines, number)
        skipped += dropped
        lines += kept
        origins += [(number, within) for within in range(1, len(kept) + 1)]
    return NotebookSource("\n".join(lines) + "\n", origins, skipped)


def _cells(path: Path) -> list[dict]:
    """The notebook's cells, read as the JSON a notebook is — leniently, as an editor does
    (a missing metadata entry is no reason to refuse the code); a notebook older than
    format 4 is upgraded by nbformat when it is installed."""
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        if notebook.get("nbformat", 4) < 4:
            import nbformat

            notebook = nbformat.reads(json.dumps(notebook), as_version=4)
        cells = notebook["cells"]
        if not isinstance(cells, list):
            raise ValueError("its cells are not a list")
        return cells
    except Exception as error:  # noqa: BLE001 - JSON, nbformat and key errors alike
        raise NotebookError(
            f"{path} is not a readable notebook ({type(error).__name__}: {error})"
        ) from None


def _python_lines(source: str) -> list[str]:
    """The cell's lines, magics and shell commands blanked (so line numbers still match)."""
    lines = source.splitlines()
    if lines and lines[0].startswith("%%"):
        if lines[0].split()[0] not in PYTHON_CELL_MAGICS:
            return [""] * len(lines)
        lines[0] = ""
    return ["" if line.lstrip().startswith(("%", "!")) else line for line in lines]


def _definitions_only(lines: list[str], cell: int) -> tuple[list[str], int]:
    """``lines`` with the top-level statements that are not definitions blanked."""
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError as error:
        raise NotebookError(
            f"cell {cell}, line {error.lineno} has a syntax error: {error.msg}"
        ) from None
    kept = list(lines)
    dropped = 0
    for statement in tree.body:
        if _defines(statement):
            continue
        dropped += 1
        for line in range(statement.lineno, (statement.end_lineno or statement.lineno) + 1):
            kept[line - 1] = ""
    return kept, dropped


def _defines(statement: ast.stmt) -> bool:
    if isinstance(statement, DEFINITIONS):
        return True
    if isinstance(statement, ast.Pass) or (
        isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
    ):
        return True  # a docstring
    if isinstance(statement, ast.Try):  # try: import x / except ImportError: x = None
        handlers = [s for handler in statement.handlers for s in handler.body]
        body = statement.body + handlers + statement.orelse + statement.finalbody
        return all(_defines(s) for s in body)
    if isinstance(statement, (ast.Assign, ast.AnnAssign)) and statement.value is not None:
        return all(_root(call.func) in SAFE_CALLS for call in _calls(statement.value))
    return False


def _calls(node: ast.AST) -> list[ast.Call]:
    """The calls made when ``node`` is evaluated (not those inside a lambda's body)."""
    if isinstance(node, ast.Lambda):
        return []
    found = [node] if isinstance(node, ast.Call) else []
    return found + [call for child in ast.iter_child_nodes(node) for call in _calls(child)]


def _root(function: ast.expr) -> str | None:
    """``np`` for ``np.random.default_rng``; None for anything but a dotted name."""
    while isinstance(function, ast.Attribute):
        function = function.value
    return function.id if isinstance(function, ast.Name) else None
