"""Column vectors that are rows of one matrix, found again without copying.

The book's ``mnist_loader`` hands out 50,000 pairs (x, y), x a (784, 1) column. Scripts
pass them through ``list(...)``, slice them, shuffle them; ``nnreg.network2`` then needs
them as one matrix with an example per row. Stacking 50,000 columns costs ~0.15 s and a
second copy of the data set, at every call that needs them.

``nnreg.mnist_loader`` makes every x a *view* of one row of a matrix and registers the
matrix here with its columns (as weak references: the registry keeps nothing alive). Given
any sequence of such columns, :func:`find_rows` returns the matrix and the row of each
column — by identity of the column objects, so a column replaced by another array, even
an equal one, is never mistaken for a row. Then:

* the columns in the matrix's own order (the whole list, or its first k) are the matrix
  itself, or its first k rows: a view, nothing copied;
* any other order is a gather of those rows (a copy, as stacking would make).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np


@dataclass
class _Registered:
    matrix: weakref.ref
    columns: list[weakref.ref]
    index: dict[int, int] | None = field(default=None)

    def row_of(self, column) -> int | None:
        """The row ``column`` is a view of, or None (by identity)."""
        if self.index is None:
            self.index = {}
            for row, ref in enumerate(self.columns):
                alive = ref()
                if alive is not None:
                    self.index[id(alive)] = row
        row = self.index.get(id(column))
        if row is not None and self.columns[row]() is column:
            return row
        return None


_REGISTERED: dict[int, _Registered] = {}


def register(matrix: np.ndarray, columns: list[np.ndarray]) -> None:
    """Record that ``columns[i]`` is a view of ``matrix[i]``."""
    key = id(matrix)
    _REGISTERED[key] = _Registered(
        weakref.ref(matrix, lambda _: _REGISTERED.pop(key, None)),
        [weakref.ref(column) for column in columns],
    )


@dataclass(frozen=True)
class Rows:
    """Where a sequence of columns lies: rows ``rows`` of ``matrix``; ``in_order`` when
    they are its first ``len(rows)`` rows in order (then ``matrix[:len(rows)]`` is them)."""

    matrix: np.ndarray
    rows: np.ndarray
    in_order: bool

    def inputs(self) -> np.ndarray:
        """The columns as a matrix, one per row: a view when in order, else a copy."""
        if self.in_order:
            return self.matrix[: len(self.rows)]
        return self.matrix[self.rows]


def find_rows(columns) -> Rows | None:
    """The registered matrix whose rows ``columns`` are, with their row numbers; None when
    any column is not a registered row (the caller then stacks them)."""
    if len(columns) == 0:
        return None
    first = columns[0]
    base = getattr(first, "base", None)
    entry = _REGISTERED.get(id(base)) if base is not None else None
    if entry is None or entry.matrix() is not base:
        return None
    refs = entry.columns
    if len(columns) <= len(refs) and all(r() is c for r, c in zip(refs, columns)):
        rows, in_order = np.arange(len(columns)), True
    else:
        found = [entry.row_of(column) for column in columns]
        if any(row is None for row in found):
            return None
        rows, in_order = np.array(found, dtype=np.intp), False
    return Rows(base, rows, in_order)
