"""Where a line of the learner's code is, as they find it: ``train.py, line 7``, ``lines
7–9`` for a statement over several lines, ``cell 3, line 7`` in a notebook, ``In [5], line 3``
in a notebook kernel; and the whole statement a line belongs to."""

from __future__ import annotations

import ast
import linecache
import textwrap
from pathlib import Path
from typing import Any


class LineNumber(int):
    """A line number that knows its file (the learner's code may span several) and the last
    line of its statement (``last``: the same line unless the statement goes on)."""

    file: str = ""
    last: int = 0

    def __new__(cls, number: int, file: str, last: int | None = None) -> LineNumber:
        line = super().__new__(cls, number)
        line.file = file
        line.last = number if last is None else last
        return line


def place(learner: Any, line: int) -> str:
    """Where ``line`` is, for a learner (anything with ``source``, ``line_label`` and
    ``file_labels``): ``train.py, line 7`` (``lines 7–9``), ``cell 3, line 7`` in the
    notebook given, ``In [5], line 3`` for a cell of a notebook kernel."""
    first, last = int(line), getattr(line, "last", int(line))
    file = getattr(line, "file", "") or str(learner.source)
    lines = f"line {first}" if last == first else f"lines {first}–{last}"
    labels = getattr(learner, "file_labels", {})
    if file in labels:
        return f"{labels[file]}, {lines}"
    try:
        given = Path(file).resolve() == Path(learner.source).resolve()
    except (OSError, ValueError):
        given = False
    if given and Path(file).suffix == ".ipynb":
        start, end = str(learner.line_label(first)), str(learner.line_label(last))
        cell, _, number = start.rpartition("line ")
        if last == first or not end.startswith(cell):
            return start
        return f"{cell}lines {number}–{end.rpartition('line ')[2]}"
    return f"{Path(file).name}, {lines}"


def statement_spans(code: str) -> list[tuple[int, int]]:
    """0-based (first, last) lines of each simple statement of ``code`` — and of each compound
    statement's header (``for x, y in zip(a,`` … ``b):``) — innermost first."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    spans = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt):
            continue
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            end = body[0].lineno - 1  # a header: up to its body
            decorators = getattr(node, "decorator_list", [])
            first = min([node.lineno, *(d.lineno for d in decorators)])
            spans.append((first - 1, max(first, end) - 1))
        else:
            spans.append((node.lineno - 1, (node.end_lineno or node.lineno) - 1))
    return sorted(spans, key=lambda span: span[1] - span[0])


def statement_text(lines: list[str]) -> str:
    """A statement's lines, the first stripped and the others keeping their indentation
    relative to it."""
    if len(lines) == 1:
        return lines[0].rstrip()
    return textwrap.dedent("".join(lines)).rstrip()


def statement_at(file: str, line: int) -> tuple[LineNumber, str] | None:
    """The whole statement of ``file`` (a file or a cached cell) that holds ``line``."""
    lines = linecache.getlines(file)
    if not 1 <= line <= len(lines):
        return None
    spans = statement_spans("".join(lines))
    first, last = next(((a, b) for a, b in spans if a <= line - 1 <= b), (line - 1, line - 1))
    text = statement_text(lines[first : last + 1])
    return LineNumber(first + 1, file, last + 1), text
