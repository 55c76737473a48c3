"""A notebook (``.ipynb``) as a module, read as Jupyter runs it: cell after cell, a cell that
fails leaving the others be.

A notebook is JSON: a list of cells, each with its source. The doctor runs its code cells
into one namespace, top-level statement after statement, as a learner running the cells
would: a cell with a syntax error (a scratch ``3+``), an import of an API that no longer
exists (``from scipy.misc import imread``), a file on the learner's own disk — each is
named in the notes and left out, and the doctor goes on with what was defined. Without
``everything`` it runs only what *defines* things — imports, ``def``, ``class`` and
assignments that call nothing but numpy or math (and read no file) — because a notebook's
other top-level statements load data and train, which would take minutes and is not what
is probed. Shell and magic lines (``!pip install …``, ``%matplotlib inline``,
``%autoreload 2``) are dropped, and so are cells run by another interpreter (``%%bash``,
``%%writefile``). Lines of the joined module map back to "cell N, line L", counting every
cell from the top, text cells too.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PYTHON_CELL_MAGICS = ("%%time", "%%timeit", "%%capture")
"""Cell magics whose body is Python: the body is kept."""
DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
SAFE_CALLS = ("np", "numpy", "math")
"""Assignments that call only into these modules (``sigmoid_vec = np.vectorize(sigmoid)``)
define something and are run; any other call may load data or train, and is skipped."""
READS_FILES = ("load", "loadtxt", "genfromtxt", "fromfile", "memmap", "fromregex")
"""numpy functions that read a file: an assignment calling one loads data, and is skipped."""


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
    statements: list[ast.stmt] = field(default_factory=list)
    """The top-level statements to run, in order, numbered as lines of ``text``."""
    broken: list[str] = field(default_factory=list)
    """Cells left out because they are not Python (a syntax error), said as a note."""
    assigned: set[str] = field(default_factory=set)
    """Every name the notebook's statements assign, run or not."""

    def label(self, line: int) -> str:
        """``cell 3, line 7`` for line ``line`` (1-based) of the joined module."""
        if 1 <= line <= len(self.origins):
            cell, within = self.origins[line - 1]
            return f"cell {cell}, line {within}"
        return f"line {line}"


def read_notebook(path: Path, everything: bool = False) -> NotebookSource:
    """The definitions in the code cells of the notebook at ``path`` (with ``everything``,
    all of their code, as Run All runs it); a cell with a syntax error is left out and
    named in ``broken``."""
    cells = _cells(Path(path))
    lines: list[str] = []
    origins: list[tuple[int, int]] = []
    statements: list[ast.stmt] = []
    skipped, broken, assigned = 0, [], set()
    for number, cell in enumerate(cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        cell_lines = _python_lines("".join(source) if isinstance(source, list) else source)
        try:
            tree = ast.parse("\n".join(cell_lines))
        except SyntaxError as error:
            broken.append(
                f"cell {number}, line {error.lineno} has a syntax error ({error.msg}): the "
                "cell was left out"
            )
            cell_lines, tree = [""] * len(cell_lines), ast.Module([], [])
        assigned |= {
            n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
        }
        kept = tree.body if everything else [s for s in tree.body if _defines(s)]
        skipped += len(tree.body) - len(kept)
        cell_lines = cell_lines if everything else _only(cell_lines, kept)
        ast.increment_lineno(ast.Module(kept, []), len(lines))
        statements += kept
        lines += cell_lines
        origins += [(number, within) for within in range(1, len(cell_lines) + 1)]
    text = "\n".join(lines) + "\n"
    return NotebookSource(text, origins, skipped, statements, broken, assigned)


def _only(lines: list[str], statements: list[ast.stmt]) -> list[str]:
    """``lines`` with every line outside ``statements`` blanked."""
    kept = [""] * len(lines)
    for statement in statements:
        first = min(
            [statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])]
        )
        for line in range(first, (statement.end_lineno or statement.lineno) + 1):
            kept[line - 1] = lines[line - 1]
    return kept


def run_statements(
    notebook: NotebookSource, namespace: dict, filename: str, label: Callable[[int], str]
) -> list[str]:
    """Run the notebook's statements in order into ``namespace``; a statement that raises
    is left out, as a failing cell is in Jupyter. Returns what failed, as notes."""
    failed = []
    for statement in notebook.statements:
        code = compile(ast.Module([statement], []), filename, "exec", dont_inherit=True)
        try:
            exec(code, namespace)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as error:  # noqa: BLE001 - a cell of theirs may raise anything
            if _uses_what_was_not_run(error, statement, notebook):
                notebook.skipped += 1  # uses data a statement not run would have loaded
                continue
            failed.append(
                f"{label(statement.lineno)}: {_shown(error, statement)} — left out, as "
                "Jupyter leaves a failing cell; the notebook's other definitions were used"
            )
    return failed


def _uses_what_was_not_run(error: Exception, statement: ast.stmt, notebook) -> bool:
    """An assignment that needs a name only a statement not run (loading data) assigns."""
    return (
        isinstance(error, NameError)
        and isinstance(statement, (ast.Assign, ast.AnnAssign))
        and getattr(error, "name", None) in notebook.assigned
    )


def _shown(error: BaseException, statement: ast.stmt | None = None) -> str:
    text = import_failure(error, statement) if isinstance(error, ImportError) else None
    text = text or f"{type(error).__name__}: {error}"
    return text if len(text) <= 200 else text[:197] + "…"


REPLACED = {
    "scipy.misc.imread": "imageio.v3.imread",
    "scipy.misc.imsave": "imageio.v3.imwrite",
    "scipy.misc.imresize": "PIL's Image.resize",
    "scipy.misc.toimage": "PIL's Image.fromarray",
    "sklearn.cross_validation": "sklearn.model_selection",
    "sklearn.grid_search": "sklearn.model_selection",
    "sklearn.externals.joblib": "joblib",
    "tensorflow.examples.tutorials.mnist": "tf.keras.datasets.mnist",
}
"""APIs learners' notebooks still import that their libraries have removed, and what
replaced them."""


ELSEWHERE = {
    "google.colab": "it exists only in Google Colab",
    "IPython": "it comes with Jupyter",
}
"""Modules a notebook imports that exist only where it was written."""


def import_failure(error: ImportError, statement: ast.stmt | None = None) -> str | None:
    """What an import that failed means: ``scipy.misc.imread`` no longer exists in scipy
    1.17.1 (imageio.v3.imread replaced it); ``reg_utils`` is not installed here."""
    module = error.name or ""
    if isinstance(statement, ast.ImportFrom) and statement.module and not statement.level:
        if statement.module.startswith(module + ".") or not module:
            module = statement.module  # `from google.colab import drive`: google.colab
    where = next((why for name, why in ELSEWHERE.items() if module.startswith(name)), None)
    if where:
        return f"`{module}` cannot be imported here: {where}"
    missing = re.match(r"cannot import name '([^']+)'", str(error))
    what = f"{module}.{missing.group(1)}" if missing else module
    if not what:
        return None
    replaced = next((new for old, new in REPLACED.items() if what.startswith(old)), None)
    installed = _distribution(module.split(".")[0])
    if replaced and installed:
        return f"`{what}` no longer exists in {installed} ({replaced} replaced it)"
    if missing and installed:
        return f"`{what}` does not exist in {installed}"
    return (
        f"`{what}` cannot be imported: it is not installed in this Python (nor a file beside "
        "the notebook)"
    )


def _distribution(package: str) -> str | None:
    """``scipy 1.17.1`` for an importable top-level package; None when it is not installed."""
    from importlib import metadata, util

    try:
        if util.find_spec(package) is None:
            return None
    except (ImportError, ValueError):
        return None
    names = metadata.packages_distributions().get(package, [package])
    try:
        return f"{names[0]} {metadata.version(names[0])}"
    except metadata.PackageNotFoundError:
        return package


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
        return all(
            _root(call.func) in SAFE_CALLS and not _reads_file(call.func)
            for call in _calls(statement.value)
        )
    return False


def _reads_file(function: ast.expr) -> bool:
    """``np.load(…)``, ``np.loadtxt(…)``: a call that reads data from a file."""
    return isinstance(function, ast.Attribute) and function.attr in READS_FILES


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
